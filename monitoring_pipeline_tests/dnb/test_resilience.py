"""Circuit breaker transitions with an injectable clock."""

from __future__ import annotations

import pytest

from monitoring_pipeline.dnb.errors import DnbCircuitOpenError
from monitoring_pipeline.dnb.resilience import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cool_down():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_seconds=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(DnbCircuitOpenError) as raised:
        breaker.before_call()
    assert raised.value.retry_in == pytest.approx(30)

    clock.now += 30
    assert breaker.state == "half_open"
    breaker.before_call()  # the one trial call
    with pytest.raises(DnbCircuitOpenError):
        breaker.before_call()  # others wait for the trial's outcome
    breaker.record_success()
    assert breaker.state == "closed"


def test_a_failed_trial_reopens_for_another_cool_down():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_seconds=10, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.times_opened == 2
    clock.now += 9
    assert breaker.state == "open"


def test_success_resets_the_failure_count():
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
