"""Backoff policy and circuit breaker for D&B calls."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitoring_pipeline.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, BreakerState
from monitoring_pipeline.dnb.errors import DnbCircuitOpenError


@dataclass(frozen=True)
class RetryPolicy:
    """How long one call keeps trying: a bounded number of attempts within a bounded time."""

    max_attempts: int = 10
    max_elapsed_seconds: float = 120.0
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff_seconds < 0 or self.max_backoff_seconds < self.initial_backoff_seconds:
            raise ValueError("backoff bounds must satisfy 0 <= initial_backoff_seconds <= max_backoff_seconds")

    def backoff(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``Retry-After`` wins when D&B sends it. Otherwise exponential with "equal jitter": half the
        step is fixed so a storm of 429s still spreads calls out, half is random so concurrent
        clients do not retry in lock-step.
        """
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_seconds)
        step = min(self.max_backoff_seconds, self.initial_backoff_seconds * (2 ** max(0, attempt - 1)))
        return step / 2 + (rng or random).uniform(0, step / 2)


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
