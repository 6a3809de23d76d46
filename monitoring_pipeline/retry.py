"""The project's one retry helper: exponential backoff with jitter, ``Retry-After``, a deadline, and a classification
of what is worth retrying. D&B calls, probes, SFTP, destination catch-up and the alert channels all use it.

Built on tenacity: ``retrying(policy, ...)`` / ``async_retrying(policy, ...)`` return tenacity's ``Retrying`` /
``AsyncRetrying`` configured from a ``RetryPolicy``; ``Backoff.delay`` is the one formula for every wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception

# What an HTTP status means for a retry: 408 (request timeout), 425 (too early), 429 (rate limited) and 5xx are
# passing conditions; any other 4xx is the caller's mistake and repeating it changes nothing.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def is_retryable_error(error: BaseException) -> bool:
    """The default classification: an error that says so (``retryable = True``), a timeout, a refused or dropped
    connection, an HTTP status that is retryable (``is_retryable_status``)."""
    flagged = getattr(error, "retryable", None)
    if flagged is not None:
        return bool(flagged)
    if isinstance(error, httpx.HTTPStatusError):
        return is_retryable_status(error.response.status_code)
    return isinstance(error, httpx.TransportError | TimeoutError | ConnectionError | asyncio.TimeoutError)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110); None if absent or
    unreadable. Never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next attempt.

    Exponential from ``initial_seconds``, doubling, capped at ``max_seconds``. With ``jitter`` ("equal jitter")
    half the step is fixed, so a storm of failures still spreads the retries out, and half is random, so clients
    that failed together do not retry in lock-step. A server's ``Retry-After`` wins, capped at
    ``max_retry_after_seconds``.
    """

    initial_seconds: float = 0.5
    max_seconds: float = 30.0
    jitter: bool = True
    max_retry_after_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.initial_seconds < 0 or self.max_seconds < self.initial_seconds:
            raise ValueError("backoff bounds must satisfy 0 <= initial_seconds <= max_seconds")

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after_seconds)
        step = min(self.max_seconds, self.initial_seconds * (2 ** max(0, attempt - 1)))
        if not self.jitter:
            return step
        return step / 2 + (rng or random).uniform(0, step / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """How long one operation keeps trying: at most ``max_attempts`` attempts, none started once
    ``max_elapsed_seconds`` have passed (None: no time bound), waiting per ``backoff`` in between."""

    max_attempts: int = 10
    max_elapsed_seconds: float | None = 120.0
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")


OnRetry = Callable[[int, BaseException, float], None]  # (failed attempt number, its error, seconds to wait)


def _tenacity_arguments(policy: RetryPolicy, retryable: Callable[[BaseException], bool], deadline: float | None,
                        on_retry: OnRetry | None, clock: Callable[[], float]) -> dict[str, Any]:
    limit = None if policy.max_elapsed_seconds is None else clock() + policy.max_elapsed_seconds
    if deadline is not None:
        limit = deadline if limit is None else min(limit, deadline)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        # No retry whose wait would end past the budget (tenacity computes the wait before asking).
        return limit is not None and clock() + (state.upcoming_sleep or 0.0) > limit

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return policy.backoff.delay(state.attempt_number, getattr(error, "retry_after", None))

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and state.next_action is not None:
            on_retry(state.attempt_number, state.outcome.exception(), state.next_action.sleep)

    return {"retry": retry_if_exception(retryable), "stop": stop, "wait": wait, "before_sleep": before_sleep,
            "reraise": True}


def retrying(
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool] = is_retryable_error,
    deadline: float | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Retrying:
    """A tenacity ``Retrying`` for ``policy``: call it (``retrying(policy)(fn, *args)``) or iterate it.

    ``retryable`` classifies errors (anything else is raised at once); ``deadline`` (a ``clock()`` value, by
    default ``time.monotonic()``) bounds the whole operation, e.g. a sensor tick's; an error's ``retry_after``
    attribute (seconds) is honoured; ``on_retry`` hears of each retry before its wait. The last error is raised
    as it is when the attempts or the time run out.
    """
    return Retrying(sleep=sleep, **_tenacity_arguments(policy, retryable, deadline, on_retry, clock))


def async_retrying(
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool] = is_retryable_error,
    deadline: float | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncRetrying:
    """``retrying`` for coroutines: ``await async_retrying(policy)(coroutine_function, *args)``."""
    return AsyncRetrying(sleep=sleep, **_tenacity_arguments(policy, retryable, deadline, on_retry, clock))
