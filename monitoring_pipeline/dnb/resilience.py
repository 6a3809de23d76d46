"""The circuit breaker of D&B calls (their retries use the project's one helper, ``monitoring_pipeline.retry``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from monitoring_pipeline.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, BreakerState
from monitoring_pipeline.dnb.errors import DnbCircuitOpenError


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open after the cool-down.

    While open, calls fail fast with ``DnbCircuitOpenError`` instead of spending the retry budget on
    a dead API. In half-open state one trial call goes through; its outcome closes or re-opens.
    The transitions are the project's one breaker (``monitoring_pipeline.circuit_breaker``); this
    class holds its state in memory for the threads of one client.
    """

    CLOSED = CLOSED
    OPEN = OPEN
    HALF_OPEN = HALF_OPEN

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = BreakerPolicy(failure_threshold=failure_threshold, open_seconds=reset_timeout_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState()

    @property
    def failure_threshold(self) -> int:
        return self.policy.failure_threshold

    @property
    def reset_timeout_seconds(self) -> float:
        return self.policy.open_seconds

    @property
    def times_opened(self) -> int:
        return self._state.times_opened

    @property
    def state(self) -> str:
        with self._lock:
            return self._state.state(self.policy, self._clock())

    def before_call(self) -> None:
        with self._lock:
            now = self._clock()
            allowed, self._state = self._state.try_call(self.policy, now)
            if allowed:
                return
            retry_in = self._state.retry_in(self.policy, now)
            raise DnbCircuitOpenError(
                f"D&B circuit breaker is open after {self._state.failures} consecutive failures; "
                f"failing fast for another {retry_in:.1f}s",
                retry_in=retry_in,
            )

    def record_success(self) -> None:
        with self._lock:
            self._state = self._state.on_success(self.policy, self._clock())

    def record_failure(self) -> None:
        with self._lock:
            self._state = self._state.on_failure(self.policy, self._clock())
