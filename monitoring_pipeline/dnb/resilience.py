"""Backoff policy and circuit breaker for D&B calls."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.reset_timeout_seconds = reset_timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._clock() - self._opened_at >= self.reset_timeout_seconds:
            return self.HALF_OPEN
        return self.OPEN

    def before_call(self) -> None:
        with self._lock:
            state = self._state_locked()
            if state == self.CLOSED:
                return
            if state == self.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            retry_in = max(0.0, self.reset_timeout_seconds - (self._clock() - (self._opened_at or 0.0)))
            raise DnbCircuitOpenError(
                f"D&B circuit breaker is open after {self._failures} consecutive failures; "
                f"failing fast for another {retry_in:.1f}s",
                retry_in=retry_in,
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.failure_threshold:
                if self._opened_at is None or self._trial_in_flight:
                    self.times_opened += 1
                self._opened_at = self._clock()
            self._trial_in_flight = False
