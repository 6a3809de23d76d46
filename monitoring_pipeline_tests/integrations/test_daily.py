"""Daily health and usage figures on both backends: availability without maintenance, percentiles, the 30-day
budget, rollups that survive pruning of raw results, usage with our own D&B calls."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from monitoring_pipeline.integrations.daily import (
    IntegrationTarget,
    compute_day,
    compute_usage,
    record_calls,
    write_day,
    write_usage,
)
from monitoring_pipeline.integrations.history import downsample
from monitoring_pipeline.storage.schema import integration_health_days, integration_probe_results
from monitoring_pipeline_tests.integrations.scripted import FAILED, START, UP, scripted_monitor, write_config

DAY = START.date()
TARGETS = [IntegrationTarget("stripe", 99.9, 300, 0.01), IntegrationTarget("steady", 99.9, 300, 0.0)]


@pytest.fixture
def one_day(engine, tmp_path):
    """Eight hours at 5-minute probes: UP, a maintenance hour of failures, a 15-minute outage, UP again."""
    common = {"category": "payments", "interval": "5m", "timeout": "2s", "retries": {"attempts": 0},
              "thresholds": {"failure": 2, "success": 2}, "breaker": {"failure_threshold": 50}}
    config = write_config(tmp_path, [
        {"name": "stripe", "url": "http://127.0.0.1:9/s", **common,
         "maintenance": [{"cron": "0 6 * * *", "duration": "1h", "description": "vendor upgrade"}]},
        {"name": "steady", "url": "http://127.0.0.1:9/t", **common},
    ])
    monitor, runner, clock = scripted_monitor(engine, config)
    for step in range(96):  # 00:00 .. 07:55
        minute = step * 5
        runner.outcomes["stripe"] = FAILED if 360 <= minute < 435 else UP  # 06:00 .. 07:10 fail
        monitor.run_pass()
        clock.advance(300)
    return engine


def test_availability_excludes_maintenance_and_counts_the_outage(one_day):
    stripe, steady = compute_day(one_day, TARGETS, DAY)
    assert stripe.seconds["MAINTENANCE"] == pytest.approx(3600)
    assert stripe.seconds["PENDING"] == pytest.approx(300)  # 07:00: first failure after the window
    assert stripe.seconds["DOWN"] == pytest.approx(900)  # 07:05 .. 07:20 (two good probes to recover)
    assert stripe.seconds["UP"] == pytest.approx(21600 + 3000)  # until 06:00, and 07:20 .. 08:10 (3 intervals)
    assert stripe.availability == pytest.approx(24900 / 25800)
    assert (stripe.probes, stripe.failed) == (84, 3)  # probes inside the window are not counted
    assert stripe.errors_by_class == {"http_status": 3}
    assert stripe.error_rate == pytest.approx(3 / 84)
    assert stripe.latency_p50_ms == pytest.approx(100.0) and stripe.latency_p99_ms == pytest.approx(100.0)
    assert stripe.sla_met is False and stripe.breached
    assert stripe.budget_remaining == pytest.approx(1 - 900 / (0.001 * 25800))
    assert stripe.burn_rate == pytest.approx(900 / 25.8)
    assert steady.availability == 1.0 and steady.budget_remaining == 1.0 and not steady.burning


def test_the_day_is_idempotent_and_rebuilt_identically_from_hourly_rollups(one_day):
    first = compute_day(one_day, TARGETS, DAY)
    write_day(one_day, DAY, first, START)
    write_day(one_day, DAY, compute_day(one_day, TARGETS, DAY), START)
    with one_day.connect() as connection:
        assert connection.execute(select(func.count()).select_from(integration_health_days)).scalar_one() == 2
    rolled, deleted = downsample(one_day, {"stripe": 300, "steady": 300}, START + timedelta(days=20))
    assert deleted == 192 and rolled >= 16
    with one_day.connect() as connection:
        assert connection.execute(select(func.count()).select_from(integration_probe_results)).scalar_one() == 0
    rebuilt = compute_day(one_day, TARGETS, DAY)
    assert rebuilt[0].source == "hourly"
    assert rebuilt[0].availability == pytest.approx(first[0].availability)
    assert rebuilt[0].seconds == pytest.approx(first[0].seconds)
    assert 75 <= rebuilt[0].latency_p50_ms <= 100  # estimated from the histogram bucket (75, 100]
    # A day in the window of a later day's 30-day budget still counts after its raw rows are gone.
    later = compute_day(one_day, TARGETS, DAY + timedelta(days=10))
    assert later[0].availability is None and later[0].budget_remaining == pytest.approx(first[0].budget_remaining)


def test_usage_counts_probe_calls_with_retries_and_our_dnb_calls(one_day):
    compute_day(one_day, TARGETS, DAY)
    record_calls(one_day, "dnb", 5, DAY)
    record_calls(one_day, "dnb", 7, DAY)
    record_calls(one_day, "dnb", 3, DAY + timedelta(days=1))
    usage = {u.integration: u for u in compute_usage(one_day, TARGETS, DAY, {"dnb": 0.5})}
    assert usage["stripe"].calls == 72 + 12 * 2 + 3 * 2 + 9  # failed probes made two attempts each
    assert usage["stripe"].cost == pytest.approx(usage["stripe"].calls * 0.01)
    assert (usage["dnb"].calls, usage["dnb"].cost) == (12, 6.0)
    write_usage(one_day, DAY, list(usage.values()), START)
    write_usage(one_day, DAY, list(usage.values()), START)


def test_a_day_without_any_probe_reports_nothing_observed(engine):
    (figures,) = compute_day(engine, TARGETS[:1], date(2026, 1, 1))
    assert figures.probes == 0 and figures.availability is None and figures.sla_met is None
    assert figures.seconds["UNKNOWN"] == 0  # no hourly rows at all: nothing to say
