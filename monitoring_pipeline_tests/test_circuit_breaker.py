"""The one circuit breaker (D&B client and probes) as pure transitions over a storable value."""

from __future__ import annotations

import pytest

from monitoring_pipeline.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerPolicy, BreakerState

POLICY = BreakerPolicy(failure_threshold=3, open_seconds=60, trial_calls=2)


def fail(state, now, times=1):
    for _ in range(times):
        allowed, state = state.try_call(POLICY, now)
        assert allowed
        state = state.on_failure(POLICY, now)
    return state


def test_opens_after_the_threshold_and_fails_fast_until_the_cool_down():
    state = fail(BreakerState(), 0, times=2)
    assert state.state(POLICY, 0) == CLOSED
    state = fail(state, 10)
    assert state.state(POLICY, 10) == OPEN
    assert state.try_call(POLICY, 30) == (False, state)
    assert state.retry_in(POLICY, 30) == pytest.approx(40)
    assert state.state(POLICY, 70) == HALF_OPEN


def test_half_open_lets_one_trial_at_a_time_and_closes_after_enough_successes():
    state = fail(BreakerState(), 0, times=3)
    allowed, trial = state.try_call(POLICY, 60)
    assert allowed and trial.trial_in_flight
    assert trial.try_call(POLICY, 60)[0] is False  # a second concurrent trial waits
    state = trial.on_success(POLICY, 61)
    assert state.state(POLICY, 61) == HALF_OPEN  # one of two trial calls
    allowed, trial = state.try_call(POLICY, 62)
    state = trial.on_success(POLICY, 62)
    assert state.state(POLICY, 62) == CLOSED
    assert state.failures == 0 and state.times_opened == 1


def test_a_failed_trial_reopens_for_a_full_cool_down():
    state = fail(BreakerState(), 0, times=3)
    state = fail(state, 60)
    assert state.state(POLICY, 100) == OPEN
    assert state.state(POLICY, 120) == HALF_OPEN
    assert state.times_opened == 2


def test_success_while_closed_resets_the_count():
    state = fail(BreakerState(), 0, times=2)
    state = state.on_success(POLICY, 1)
    state = fail(state, 2, times=2)
    assert state.state(POLICY, 2) == CLOSED


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerPolicy(trial_calls=0)
