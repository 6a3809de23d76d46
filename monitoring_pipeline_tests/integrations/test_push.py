"""Push heartbeats: how pings are judged (on time, late, failed, a run that never finished, cron schedules), how
they are kept (durations from start pings, the latest of each kind survives pruning), and a push integration's
life through real probe passes: UNKNOWN until its first ping, UP, DOWN when a ping is missed, UP again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.push import (
    FAIL,
    START,
    SUCCESS,
    Ping,
    judge_pings,
    prune_pings,
    recent_pings,
    record_ping,
)
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.integrations.store import load_statuses
from monitoring_pipeline_tests.integrations.scripted import START as T0
from monitoring_pipeline_tests.integrations.scripted import Clock, write_config

TOKEN = "tok-" + "x" * 28
TOKEN_ENV = "EXPORT_PING_TOKEN"


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def push(tmp_path, **fields):
    entry = {"name": "export", "category": "data", "type": "push", "token_env": TOKEN_ENV, "period": "1h",
             "grace": "10m", **fields}
    return write_config(tmp_path, [entry]).integrations[0]


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def pings(success=None, fail=None, start=None):
    made = {}
    for kind, value in ((SUCCESS, success), (FAIL, fail), (START, start)):
        if value is not None:
            minute, *rest = value if isinstance(value, tuple) else (value,)
            extra = dict(zip(("duration_ms", "exit_status", "message"), rest, strict=False))
            made[kind] = Ping("export", at(minute), kind, **extra)
    return made


def test_on_time_late_and_never(tmp_path):
    integration = push(tmp_path)
    assert judge_pings(integration, {}, at(5)) is None  # never pinged: nothing to judge, no alert
    on_time = judge_pings(integration, pings(success=(0, 42_000.0)), at(69))
    assert (on_time.outcome, on_time.latency_ms, on_time.attempts) == ("up", 42_000.0, 0)
    late = judge_pings(integration, pings(success=0), at(71))
    assert (late.outcome, late.error_class) == ("failed", "missed")
    assert late.error == ("no success ping since the one at 2026-03-02 00:00:00 UTC (71m ago); "
                          "expected every 1h + 10m grace")


def test_a_reported_failure_and_a_run_that_never_finished(tmp_path):
    integration = push(tmp_path)
    failed = judge_pings(integration, pings(success=0, fail=(30, 5_000.0, 3, "disk full")), at(31))
    assert (failed.error_class, failed.latency_ms) == ("job_failed", 5_000.0)
    assert "the job reported a failure (exit status 3) at 2026-03-02 00:30:00 UTC (1m ago): disk full" in failed.error
    recovered = judge_pings(integration, pings(success=40, fail=30), at(41))
    assert recovered.outcome == "up"
    running = judge_pings(integration, pings(success=0, start=30), at(39))
    assert running.outcome == "up"  # started 9 minutes ago: within the grace
    stuck = judge_pings(integration, pings(success=0, start=30), at(41))
    assert (stuck.error_class, "has not completed within the grace (10m)" in stuck.error) == ("missed", True)
    first_run_stuck = judge_pings(integration, pings(start=0), at(11))
    assert first_run_stuck.error_class == "missed"
    assert judge_pings(integration, pings(start=0), at(9)) is None


def test_a_cron_schedule_in_its_time_zone(tmp_path):
    # 02:00 in Berlin is 01:00 UTC in March; a success at 01:05 UTC is next due at 01:00 UTC the next day.
    integration = push(tmp_path, period=None, cron="0 2 * * *", timezone="Europe/Berlin", grace="1h")
    ran = pings(success=65)
    assert judge_pings(integration, ran, at(65 + 24 * 60 + 50)).outcome == "up"  # tomorrow 02:55 Berlin: in grace
    missed = judge_pings(integration, ran, at(65 + 24 * 60 + 56))  # tomorrow 03:01 Berlin
    assert missed.error_class == "missed" and "at '0 2 * * *' (Europe/Berlin) + 1h grace" in missed.error


def test_conditions_and_latency_thresholds_speak_about_the_run(tmp_path):
    integration = push(tmp_path, latency={"degraded": "20m"},
                       conditions=[{"field": "message", "regex": r"rows=\d+"}, {"response_time": "30m"}])
    good = judge_pings(integration, pings(success=(0, 60_000.0, 0, "exported rows=1200")), at(1))
    assert good.outcome == "up" and [c.passed for c in good.conditions] == [True, True]
    slow = judge_pings(integration, pings(success=(0, 25 * 60_000.0, 0, "rows=3")), at(1))
    assert slow.outcome == "degraded"
    silent = judge_pings(integration, pings(success=(0, 60_000.0, 0, "nothing exported")), at(1))
    assert (silent.outcome, silent.error_class) == ("failed", "condition")


@pytest.mark.parametrize(("value", "words"), [(None, "is not set"), ("short-token", "shorter than 20 characters")])
def test_an_unusable_token_fails_the_integration_naming_only_its_variable(tmp_path, monkeypatch, value, words):
    integration = push(tmp_path)
    if value is None:
        monkeypatch.delenv(TOKEN_ENV)
    else:
        monkeypatch.setenv(TOKEN_ENV, value)
    result = judge_pings(integration, pings(success=0), at(1))
    assert (result.outcome, result.error_class) == ("failed", "auth")
    assert TOKEN_ENV in result.error and words in result.error and "short-token" not in result.error


def test_pings_are_kept_with_run_durations_and_pruned_but_the_latest(engine):
    record_ping(engine, "export", START, now=at(0))
    first = record_ping(engine, "export", SUCCESS, now=at(2), message="ok " + "x" * 2000, remote_address="10.1.2.3",
                        user_agent="curl/8.5")
    assert first.duration_ms == 120_000.0 and len(first.message) == 1000
    second = record_ping(engine, "export", SUCCESS, now=at(62))
    assert second.duration_ms is None  # no start since the last completion
    record_ping(engine, "export", FAIL, now=at(63), exit_status=2)
    record_ping(engine, "other", SUCCESS, now=at(1))
    assert [p.kind for p in recent_pings(engine, "export")] == [FAIL, SUCCESS, SUCCESS, START]
    assert prune_pings(engine, cutoff=at(100)) == 1  # the first success; the latest of each kind stays
    assert [(p.kind, p.received_at) for p in recent_pings(engine, "export")] == [
        (FAIL, at(63)), (SUCCESS, at(62)), (START, at(0))]
    assert len(recent_pings(engine, "other")) == 1


def test_a_push_integration_through_probe_passes(tmp_path, engine):
    config = write_config(tmp_path, [
        {"name": "export", "category": "data", "type": "push", "token_env": TOKEN_ENV, "period": "5m",
         "grace": "1m", "interval": "30s"},
        {"name": "report", "category": "data", "type": "push", "token_env": TOKEN_ENV, "period": "5m",
         "maintenance": [{"cron": "30 0 * * *", "duration": "1h"}], "depends_on": "export"},
    ])
    clock = Clock(T0)
    runner = ProbeRunner()
    monitor = HealthMonitor(engine, config, runner=runner, clock=clock)

    def run(minutes):
        clock.now = at(minutes)
        outcome = monitor.run_pass(30)
        return {t.integration: (t.from_state, t.to_state) for t in outcome.transitions}, outcome

    changes, outcome = run(0)
    assert changes == {} and outcome.results == []  # never pinged: UNKNOWN, nothing stored
    record_ping(engine, "export", SUCCESS, now=at(1))
    changes, _ = run(1)
    assert changes == {"export": ("UNKNOWN", "UP")}
    changes, _ = run(6)
    assert changes == {}  # 5 minutes after the ping: still within the grace
    changes, outcome = run(7.5)
    assert changes == {"export": ("UP", "DOWN")}  # thresholds.failure 1 for push: the grace absorbed lateness
    assert outcome.transitions[0].cause.startswith("1 consecutive failed probes; last missed: no success ping")
    record_ping(engine, "export", SUCCESS, now=at(8))
    changes, _ = run(8)
    assert changes == {"export": ("DOWN", "UP")}
    record_ping(engine, "export", SUCCESS, now=at(29))
    record_ping(engine, "report", SUCCESS, now=at(29))
    changes, _ = run(31)
    assert changes == {"report": ("UNKNOWN", "MAINTENANCE")}
    statuses = load_statuses(engine)
    assert statuses["export"].breaker.failures == 0  # no calls, no breaker
