"""SLA maths: time in state with gaps, availability without maintenance, percentiles, the error budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring_pipeline.integrations.sla import (
    availability,
    burn_rate,
    error_budget,
    histogram,
    histogram_percentile,
    merge_histograms,
    percentile,
    state_seconds,
)

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_each_probe_holds_its_state_until_the_next_one():
    samples = [(at(0), "UP"), (at(60), "DOWN"), (at(90), "UP")]
    seconds = state_seconds(samples, T0, at(120), max_gap=180)
    assert seconds["UP"] == 90 and seconds["DOWN"] == 30 and seconds["UNKNOWN"] == 0


def test_time_without_probes_beyond_the_gap_is_unknown():
    samples = [(at(0), "UP"), (at(1000), "UP")]
    seconds = state_seconds(samples, T0, at(1030), max_gap=90)
    assert seconds["UP"] == 90 + 30
    assert seconds["UNKNOWN"] == 1000 - 90


def test_the_sample_before_the_window_covers_its_start():
    seconds = state_seconds([(at(100), "UP")], at(60), at(160), max_gap=90, before=(at(30), "DOWN"))
    assert seconds["DOWN"] == 40 and seconds["UP"] == 60
    stale = state_seconds([], at(60), at(160), max_gap=20, before=(at(30), "DOWN"))
    assert stale["UNKNOWN"] == 100


def test_availability_leaves_maintenance_and_unknown_out_and_counts_pending_and_degraded_as_up():
    seconds = {"UP": 3000, "DEGRADED": 500, "PENDING": 100, "DOWN": 400, "MAINTENANCE": 7200, "UNKNOWN": 999}
    assert availability(seconds) == pytest.approx(3600 / 4000)
    assert availability({"MAINTENANCE": 100, "UNKNOWN": 5}) is None


def test_error_budget_over_thirty_days():
    month = 30 * 86400
    fine = error_budget(99.9, {"UP": month - 1296, "DOWN": 1296})  # half of 43.2 minutes
    assert fine.budget_remaining == pytest.approx(0.5)
    assert not fine.breached
    spent = error_budget(99.9, {"UP": month - 5184, "DOWN": 5184})
    assert spent.budget_remaining == pytest.approx(-1.0)
    assert spent.breached and spent.availability == pytest.approx(1 - 5184 / month)
    assert error_budget(99.9, {"UNKNOWN": 10}).budget_remaining is None


def test_burn_rate_compares_a_day_with_its_share_of_the_budget():
    day = 86400
    assert burn_rate(99.9, {"UP": day - 86.4, "DOWN": 86.4}) == pytest.approx(1.0)
    assert burn_rate(99.0, {"UP": day - 86.4, "DOWN": 86.4}) == pytest.approx(0.1)
    assert burn_rate(100.0, {"UP": day}) == 0.0


def test_percentiles_interpolate_between_ranks():
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_histogram_percentiles_estimate_from_hourly_buckets():
    values = [40.0] * 50 + [120.0] * 45 + [900.0] * 5
    merged = merge_histograms([histogram(values[:60]), histogram(values[60:])])
    assert sum(merged.values()) == 100
    assert 30 <= histogram_percentile(merged, 50) <= 50
    assert 100 <= histogram_percentile(merged, 95) <= 150
    assert 750 <= histogram_percentile(merged, 99) <= 1000
