"""The one retry helper: backoff formula, Retry-After, the deadline, and what is retried."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from monitoring_pipeline.retry import (
    Backoff,
    RetryPolicy,
    async_retrying,
    is_retryable_error,
    is_retryable_status,
    parse_retry_after,
    retrying,
)


class Flaky(Exception):
    def __init__(self, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retryable = retryable
        self.retry_after = retry_after


def test_backoff_doubles_up_to_its_cap_and_jitter_stays_within_the_upper_half():
    exact = Backoff(initial_seconds=1, max_seconds=5, jitter=False)
    assert [exact.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    jittered = Backoff(initial_seconds=1, max_seconds=5)
    rng = random.Random(7)
    for attempt, step in [(1, 1), (3, 4), (9, 5)]:
        waits = [jittered.delay(attempt, rng=rng) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 100  # spread out, not lock-step


def test_retry_after_wins_but_is_capped():
    backoff = Backoff(initial_seconds=1, max_seconds=5, max_retry_after_seconds=60)
    assert backoff.delay(1, retry_after=30) == 30
    assert backoff.delay(1, retry_after=3600) == 60


@pytest.mark.parametrize(("header", "seconds"), [
    ("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), (None, None), ("", None), ("soon", None),
])
def test_retry_after_in_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date():
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0


def test_what_is_retryable():
    assert is_retryable_status(429) and is_retryable_status(503) and is_retryable_status(408)
    assert not is_retryable_status(404) and not is_retryable_status(400) and not is_retryable_status(401)
    request = httpx.Request("POST", "http://x")
    assert is_retryable_error(httpx.ConnectError("refused", request=request))
    assert is_retryable_error(httpx.ReadTimeout("slow", request=request))
    assert is_retryable_error(httpx.HTTPStatusError("x", request=request, response=httpx.Response(502)))
    assert not is_retryable_error(httpx.HTTPStatusError("x", request=request, response=httpx.Response(410)))
    assert not is_retryable_error(ValueError("a bug is not retried"))
    assert not is_retryable_error(Flaky(retryable=False))


def test_retries_until_success_waiting_as_the_backoff_says():
    waits: list[float] = []
    heard: list[tuple[int, float]] = []
    calls = iter([Flaky(), Flaky(retry_after=7), "done"])

    def operation() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(max_attempts=5, backoff=Backoff(initial_seconds=1, jitter=False))
    result = retrying(policy, sleep=waits.append, on_retry=lambda n, e, w: heard.append((n, w)))(operation)
    assert result == "done"
    assert waits == [1, 7]
    assert heard == [(1, 1), (2, 7)]


def test_a_permanent_error_is_raised_at_once():
    attempts = []

    def operation() -> None:
        attempts.append(1)
        raise Flaky(retryable=False)

    with pytest.raises(Flaky):
        retrying(RetryPolicy(max_attempts=5), sleep=lambda s: None)(operation)
    assert len(attempts) == 1


def test_attempts_run_out_and_the_last_error_is_raised():
    attempts = []

    def operation() -> None:
        attempts.append(1)
        raise Flaky()

    with pytest.raises(Flaky):
        retrying(RetryPolicy(max_attempts=3, backoff=Backoff(jitter=False)), sleep=lambda s: None)(operation)
    assert len(attempts) == 3


def test_no_retry_starts_whose_wait_would_pass_the_deadline():
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    def operation() -> None:
        raise Flaky()

    policy = RetryPolicy(max_attempts=50, max_elapsed_seconds=None,
                         backoff=Backoff(initial_seconds=1, max_seconds=100, jitter=False))
    with pytest.raises(Flaky):
        retrying(policy, deadline=110.0, sleep=sleep, clock=lambda: now[0])(operation)
    assert waits == [1, 2, 4]  # 7 s spent; the next wait (8 s) would end past the deadline


def test_the_async_variant_retries_coroutines():
    waits: list[float] = []
    outcomes = iter([Flaky(), 42])

    async def operation() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_attempts=3, backoff=Backoff(initial_seconds=0.25, jitter=False))
    assert asyncio.run(async_retrying(policy, sleep=sleep)(operation)) == 42
    assert waits == [0.25]
