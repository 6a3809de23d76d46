"""One circuit breaker for every outbound dependency: the D&B client and each probed integration.

The breaker is a value (``BreakerState``) moved by pure transitions that take the time as an argument, so
it can live in memory behind a lock (the D&B client) or be stored in a database row between sensor ticks
(integration probes), and tests drive it with any clock.

closed ──``failure_threshold`` consecutive failures──▶ open ──``open_seconds`` later──▶ half-open
half-open: up to ``trial_calls`` trial calls, one at a time; that many successes close it, a failure re-opens it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_seconds: float = 30.0
    trial_calls: int = 1  # consecutive successful trials needed to close again

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if self.open_seconds < 0:
            raise ValueError(f"open_seconds must be >= 0, got {self.open_seconds}")
        if self.trial_calls < 1:
            raise ValueError(f"trial_calls must be >= 1, got {self.trial_calls}")


@dataclass(frozen=True)
class BreakerState:
    """Where a breaker stands; ``opened_at`` is on whatever clock the caller passes as ``now``."""

    failures: int = 0  # consecutive failures while closed
    opened_at: float | None = None  # None: closed
    trial_in_flight: bool = False
    trial_successes: int = 0
    times_opened: int = 0

    def state(self, policy: BreakerPolicy, now: float) -> str:
        if self.opened_at is None:
            return CLOSED
        if now - self.opened_at >= policy.open_seconds:
            return HALF_OPEN
        return OPEN

    def retry_in(self, policy: BreakerPolicy, now: float) -> float:
        """Seconds until a call may be tried again (0 when one may go now)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, policy.open_seconds - (now - self.opened_at))

    def try_call(self, policy: BreakerPolicy, now: float) -> tuple[bool, BreakerState]:
        """Whether a call may go now, and the state to keep (a half-open breaker lets one trial at a time)."""
        state = self.state(policy, now)
        if state == CLOSED:
            return True, self
        if state == HALF_OPEN and not self.trial_in_flight:
            return True, replace(self, trial_in_flight=True)
        return False, self

    def on_success(self, policy: BreakerPolicy, now: float) -> BreakerState:
        if self.opened_at is None:
            return replace(self, failures=0)
        successes = self.trial_successes + 1
        if successes >= policy.trial_calls:
            return BreakerState(times_opened=self.times_opened)
        return replace(self, trial_in_flight=False, trial_successes=successes)

    def on_failure(self, policy: BreakerPolicy, now: float) -> BreakerState:
        failures = self.failures + 1
        if self.opened_at is not None:
            if self.state(policy, now) == OPEN and not self.trial_in_flight:
                return replace(self, failures=failures)  # a late answer to a call made before it opened
            return BreakerState(failures=failures, opened_at=now, times_opened=self.times_opened + 1)
        if failures >= policy.failure_threshold:
            return BreakerState(failures=failures, opened_at=now, times_opened=self.times_opened + 1)
        return replace(self, failures=failures)
