"""Each source's conditions over sequences of observations: what fires, when, and what resolves it."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from monitoring_pipeline.alerting.actions import acknowledge
from monitoring_pipeline.alerting.anomaly import baseline, is_anomalous, robust_score
from monitoring_pipeline.alerting.queries import list_alerts
from monitoring_pipeline.alerting.sources.dagster import record_run_failure
from monitoring_pipeline.alerting.sources.records import DagsterInputs, RunOutcome, TickState
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.storage.schema import (
    dnb_landed_notifications,
    dnb_quarantine,
    dnb_registration_status,
    integration_failover_events,
    integration_health_days,
    integration_probe_results,
)
from monitoring_pipeline_tests.alerting.harness import Acceptance


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def states(at: Acceptance, state: str = "open") -> dict[str, str]:
    with at.engine.connect() as connection:
        return {f"{r.rule}:{_name(r.labels)}": r.state for r in list_alerts(connection, state)}


def _name(labels: dict[str, str]) -> str:
    return next((labels[k] for k in ("integration", "asset", "job", "instigator", "duns", "reference", "failover_group")
                 if labels.get(k)), "")


@pytest.mark.parametrize(("sequence", "expected"), [
    # (state changes at seconds) -> states of integration_degraded (for: 1m) after 200 s
    ([(0, "DEGRADED")], "firing"),
    ([(0, "DEGRADED"), (30, "UP")], None),  # shorter than for: resolved before firing
    ([(0, "DEGRADED"), (30, "UP"), (100, "DEGRADED")], "firing"),  # fires at 160
    ([(0, "DOWN")], None),  # another state: not this rule
    ([(150, "DEGRADED")], "pending"),
])
def test_integration_state_with_for(engine, sequence, expected):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: slow, source: integration_state, states: [DEGRADED], for: 1m}
""")
    for moment, state in sequence:
        at.integration(moment, "paypal", state)
    at.run(until=200)
    assert states(at).get("slow:paypal") == expected


@pytest.mark.parametrize(("results", "expected_state", "expected_severity"), [
    # (passed, severity) per evaluation of one check -> the alert after them; consecutive failures: 2
    ([(False, "ERROR")], "pending", "error"),
    ([(False, "ERROR"), (False, "ERROR")], "firing", "error"),
    ([(False, "WARN"), (False, "ERROR")], "firing", "error"),  # severity follows the latest evaluation
    ([(False, "ERROR"), (True, "ERROR"), (False, "ERROR")], "pending", "error"),  # the streak starts over
    ([(False, "WARN"), (False, "WARN"), (True, "WARN")], None, None),  # one pass resolves (successes: 1)
    ([(True, "ERROR")], None, None),
])
def test_asset_check_consecutive_failures_and_severity_map(engine, results, expected_state, expected_severity):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: check_failed, source: asset_check, consecutive: {failures: 2},
     severity_map: {WARN: warning, ERROR: error}}
""")
    for index, (passed, severity) in enumerate(results):
        at.asset_check(index * 10, "dnb_notifications", "duns_format", passed, severity)
    at.run(until=10 * len(results))
    with engine.connect() as connection:
        found = list_alerts(connection, "open")
    assert (found[0].state if found else None) == expected_state
    assert (found[0].severity if found else None) == expected_severity


def test_asset_check_rule_ignores_severities_it_does_not_select(engine):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: errors_only, source: asset_check, check_severities: [ERROR]}
""")
    at.asset_check(0, "a", "c", passed=False, severity="WARN")
    at.run(until=10)
    assert states(at) == {}


def test_a_failed_run_fires_until_a_later_run_of_the_job_succeeds(engine):
    at = Acceptance(engine, "default_rules: false\nrules: [{name: run_failed, source: dagster_run}]")
    at.in_transaction(0, lambda c, now: record_run_failure(c, "daily_job", "r1", now, "boom", now))
    at.run(until=10)
    assert states(at) == {"run_failed:daily_job": "firing"}
    at.alert_engine.evaluate(DagsterInputs(runs=[RunOutcome("daily_job", "r2", True, at.time(20))]), now=at.time(20))
    assert states(at) == {}
    assert states(at, "resolved") == {"run_failed:daily_job": "resolved"}


def test_tick_failures_count_distinct_ticks(engine):
    at = Acceptance(engine, """
default_rules: false
rules: [{name: tick_failed, source: dagster_tick, consecutive: {failures: 2}}]
""")

    def tick(moment: float, tick_id: int, status: str) -> None:
        at.alert_engine.evaluate(DagsterInputs(ticks=[TickState("dnb_landing_sensor", "sensor", tick_id, status,
                                                                at.time(moment), "boom")]), now=at.time(moment))

    tick(0, 1, "FAILURE")
    tick(15, 1, "FAILURE")  # the same tick seen again: still one failure
    assert states(at) == {"tick_failed:dnb_landing_sensor": "pending"}
    tick(30, 2, "FAILURE")
    assert states(at) == {"tick_failed:dnb_landing_sensor": "firing"}
    tick(45, 3, "SUCCESS")
    assert states(at) == {}


def test_landing_freshness(engine):
    at = Acceptance(engine, """
default_rules: false
rules: [{name: stale, source: landing_freshness, max_age: 30m, evaluate_every: 10s}]
""")
    with engine.begin() as connection:
        connection.execute(insert(dnb_registration_status), [
            {"reference": "FRESH", "last_success_at": at.time(-60), "last_attempt_at": at.time(-60),
             "last_error": None, "landed_total": 1, "quarantined_total": 0},
            {"reference": "OLD", "last_success_at": at.time(-3600), "last_attempt_at": at.time(-60),
             "last_error": "timeout", "landed_total": 1, "quarantined_total": 0},
            {"reference": "NEVER", "last_success_at": None, "last_attempt_at": at.time(-60),
             "last_error": "401 Unauthorized", "landed_total": 0, "quarantined_total": 0},
        ])
    at.run(until=0)
    assert states(at) == {"stale:OLD": "firing", "stale:NEVER": "firing"}


def test_failover_events_fire_one_alert_each_and_resolve_after_their_time(engine):
    at = Acceptance(engine, "default_rules: false\nrules: [{name: failover, source: integration_failover, "
                            "resolve_after: 10m}]")
    with engine.begin() as connection:
        connection.execute(insert(integration_failover_events), [
            {"failover_group": "llm", "switched_at": at.time(-7200), "from_integration": "openai",
             "to_integration": "anthropic", "reason": "long ago: not alerted"},
            {"failover_group": "llm", "switched_at": at.time(0), "from_integration": "openai",
             "to_integration": "anthropic", "reason": "openai DOWN"},
        ])
    at.run(until=0)
    assert states(at) == {"failover:llm": "firing"}
    at.run(start=600, until=600)
    assert states(at) == {}


def _land(connection, at, key, duns, kind, elements=None, organization=None, reference="REF", offset=0.0):
    payload = {"type": kind, "organization": {"duns": duns, **(organization or {})}, "elements": elements or []}
    moment = at.time(offset)
    connection.execute(insert(dnb_landed_notifications).values(
        notification_key=key, reference=reference, duns=duns, notification_type=kind, delivery_ts=moment,
        delivery_day=moment.date(), page_position=0, payload=json.dumps(payload), source="pull", landed_at=moment))


OUT_OF_BUSINESS = {"element": "organization.dunsControlStatus.operatingStatus",
                   "previous": {"description": "Active", "dnbCode": 9074},
                   "current": {"description": "Out of Business", "dnbCode": 403}}


@pytest.mark.parametrize(("kind", "elements", "organization", "expected"), [
    ("UPDATE", [OUT_OF_BUSINESS], {}, {"gone:000000001"}),
    ("UPDATE", [{**OUT_OF_BUSINESS, "current": {"description": "Active", "dnbCode": 9074}}], {}, set()),  # back
    ("UPDATE", [{"element": "organization.dunsControlStatus.isOutOfBusiness", "previous": False, "current": True}],
     {}, {"gone:000000001"}),
    ("UPDATE", [{"element": "organization.primaryName", "previous": "ACME", "current": "ACME GROUP"}], {},
     {"renamed:000000001"}),
    ("UPDATE", [{"element": "organization.registeredAddress.postalCode", "previous": "1", "current": "2"}], {},
     {"moved:000000001"}),
    ("DELETE", [], {}, {"deleted:000000001"}),
    ("TRANSFER", [], {"dunsControlStatus": {"dunsTransfers": [{"retainedDUNS": "000000002"}]}},
     {"transferred:000000001"}),
    ("SEED", [], {"primaryName": "ACME"}, set()),
])
def test_dnb_event_selection(engine, kind, elements, organization, expected):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: gone, source: dnb_event, types: [UPDATE], elements: [
       {path: organization.dunsControlStatus.operatingStatus, current: {dnbCode: 403}},
       {path: organization.dunsControlStatus.isOutOfBusiness, current: true}]}
  - {name: renamed, source: dnb_event, elements: [organization.primaryName]}
  - {name: moved, source: dnb_event, elements: [organization.registeredAddress.*]}
  - {name: deleted, source: dnb_event, types: [DELETE]}
  - {name: transferred, source: dnb_event, types: [TRANSFER],
     annotations: {summary: "{{ labels.duns }} {{ details.changes }}"}}
""")
    with engine.begin() as connection:
        _land(connection, at, "k1", "000000001", kind, elements, organization)
    at.run(until=0)
    found = states(at)
    assert set(found) == expected
    if kind == "TRANSFER":
        with engine.connect() as connection:
            assert list_alerts(connection)[0].annotations["summary"] == "000000001 replaced by DUNS 000000002"


def test_dnb_events_of_one_company_join_its_alert_and_portfolios_select(engine, tmp_path):
    (tmp_path / "suppliers.txt").write_text("000000001\n# a comment\n000000003\n")
    at = Acceptance(engine, f"""
default_rules: false
portfolios:
  suppliers: {{file: {tmp_path / 'suppliers.txt'}}}
rules:
  - {{name: deleted, source: dnb_event, types: [DELETE, UNDER_REVIEW], portfolios: [suppliers]}}
""")
    with engine.begin() as connection:
        _land(connection, at, "k1", "000000001", "UNDER_REVIEW")
        _land(connection, at, "k2", "000000001", "DELETE", offset=1)
        _land(connection, at, "k3", "000000002", "DELETE", offset=2)  # not in the portfolio
    at.run(until=5)
    with engine.connect() as connection:
        found = list_alerts(connection)
    assert [(a.labels["duns"], a.labels["portfolio"], a.event_count) for a in found] == [("000000001", "suppliers", 2)]
    with engine.begin() as connection:  # acknowledging an event alert resolves it
        assert acknowledge(connection, found[0].id, "carol", "supplier informed", at.time(6)) == "acknowledged"
    assert states(at) == {}


def test_burn_rate_needs_both_windows(engine):
    at = Acceptance(engine, """
default_rules: false
rules: [{name: burn, source: sla_burn_rate, long_window: 1h, short_window: 5m, factor: 14.4, min_probes: 3,
         evaluate_every: 5s}]
""")

    def probes(name, start, end, every, failed):
        return [{"integration": name, "probed_at": at.time(s), "outcome": "failed" if failed(s) else "up",
                 "state": "UP", "attempts": 1} for s in range(start, end, every)]

    with engine.begin() as connection:
        connection.execute(insert(integration_probe_results), [
            # burning now: 30 % of the last hour failed, all of the last 5 minutes (SLA 99.9 %: 300x and 1000x)
            *probes("hot", -3600, 0, 60, lambda s: s > -1080),
            # burnt earlier, fine for the last 5 minutes: the short window says it is over
            *probes("cooled", -3600, 0, 60, lambda s: -2400 < s < -600),
            # one failed probe now in an otherwise clean hour (4x over the hour): below the factor
            *probes("blip", -3600, 0, 15, lambda s: s == -60),
        ])
    at.run(until=0)
    assert states(at) == {"burn:hot": "firing"}


def test_threshold_rules_on_our_own_figures(engine):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: errors, source: threshold, metric: integration_error_rate, window: 15m, threshold: 0.2, min_samples: 4,
     evaluate_every: 5s}
  - {name: slow, source: threshold, metric: integration_latency_p95_ms, window: 15m, threshold: 1000,
     evaluate_every: 5s}
  - {name: quarantine, source: threshold, metric: dnb_quarantine_count, window: 24h, threshold: 0,
     evaluate_every: 5s}
""")
    rows = []
    for second in range(-600, 0, 60):  # 10 probes each
        rows.append({"integration": "flaky", "probed_at": at.time(second), "outcome": "failed" if second % 120 else
                     "up", "state": "UP", "attempts": 1, "latency_ms": 100.0})
        rows.append({"integration": "sluggish", "probed_at": at.time(second), "outcome": "degraded", "state": "UP",
                     "attempts": 1, "latency_ms": 1500.0})
    with engine.begin() as connection:
        connection.execute(insert(integration_probe_results), rows)
        connection.execute(insert(dnb_quarantine).values(
            notification_key="q1", reference="DEMO_STD", delivery_day=at.time(0).date(), reason="bad DUNS",
            payload="{}", source="pull", landed_at=at.time(-10)))
    at.run(until=0)
    assert states(at) == {"errors:flaky": "firing", "slow:sluggish": "firing", "quarantine:DEMO_STD": "firing"}


def test_a_push_heartbeats_job_duration_is_not_an_api_latency(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPORT_PING_TOKEN", "t" * 32)
    integrations = tmp_path / "integrations.yaml"
    integrations.write_text("""
integrations:
  - {name: nightly_export, category: data, type: push, token_env: EXPORT_PING_TOKEN, period: 1h, grace: 5m}
  - {name: sluggish, category: payments, url: "http://127.0.0.1:9/health"}
""")
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: slow, source: threshold, metric: integration_latency_p95_ms, window: 15m, threshold: 1000,
     evaluate_every: 5s}
""", integrations=load_integrations(integrations))
    rows = [{"integration": name, "probed_at": at.time(second), "outcome": "up", "state": "UP", "attempts": 1,
             "latency_ms": 5000.0} for second in range(-600, 0, 60) for name in ("nightly_export", "sluggish")]
    with engine.begin() as connection:
        connection.execute(insert(integration_probe_results), rows)
    at.run(until=0)
    assert states(at) == {"slow:sluggish": "firing"}  # the export's 5 s runs are its own latency conditions' business


@pytest.mark.parametrize(("history", "value", "direction", "anomalous"), [
    ([100, 102, 98, 101, 99, 100, 103], 100, "both", False),
    ([100, 102, 98, 101, 99, 100, 103], 160, "up", True),
    ([100, 102, 98, 101, 99, 100, 103], 160, "down", False),
    ([100, 102, 98, 101, 99, 100, 103], 40, "down", True),
    ([100, 102, 98, 101, 99, 100, 5000], 130, "up", True),  # an outlier in the history does not hide a change
    ([50, 50, 50, 50, 50, 50, 50], 50, "both", False),  # MAD 0 and nothing changed
    ([50, 50, 50, 50, 50, 50, 50], 51, "up", True),  # MAD 0: any change is unusual
])
def test_robust_anomaly_scores(history, value, direction, anomalous):
    score = robust_score(value, history)
    assert score is not None and is_anomalous(score, 3.5, direction) is anomalous


def test_weekday_baseline_compares_like_with_like():
    monday = date(2026, 11, 30)
    series = {monday - timedelta(days=n): (500.0 if (monday - timedelta(days=n)).weekday() == 0 else 50.0)
              for n in range(1, 29)}
    assert baseline(series, monday, history_days=28, by_weekday=True) == [500.0] * 4
    assert len(baseline(series, monday, history_days=28, by_weekday=False)) == 28


def test_anomaly_rule_waits_for_enough_history_then_fires(engine):
    at = Acceptance(engine, """
default_rules: false
rules: [{name: latency_anomaly, source: anomaly, metric: integration_latency_p95_ms, min_history: 5,
         evaluate_every: 5s}]
""")
    yesterday = at.time(0).date() - timedelta(days=1)

    def day_row(day, p95):
        return {"day": day, "integration": "stripe", "probes": 100, "failed": 0, "latency_p95_ms": p95,
                "error_rate": 0.0, "errors_by_class": "{}", "seconds_up": 0, "seconds_degraded": 0,
                "seconds_pending": 0, "seconds_down": 0, "seconds_maintenance": 0, "seconds_unknown": 0,
                "failover_events": 0, "sla_target": 99.9, "source": "raw", "computed_at": at.time(0)}

    with engine.begin() as connection:
        connection.execute(insert(integration_health_days), [day_row(yesterday, 900.0)] + [
            day_row(yesterday - timedelta(days=n), 200.0 + n) for n in range(1, 5)])
    at.run(until=0)
    assert states(at) == {}  # 4 days of history: not enough
    with engine.begin() as connection:
        connection.execute(insert(integration_health_days).values(**day_row(yesterday - timedelta(days=5), 205.0)))
    at.run(start=10, until=10)
    assert states(at) == {"latency_anomaly:stripe": "firing"}


def test_a_failing_source_does_not_stop_the_others(engine, monkeypatch):
    from monitoring_pipeline.alerting.sources import metrics

    def broken(context, window):
        raise RuntimeError("figures unavailable")

    monkeypatch.setitem(metrics.METRICS, "integration_error_rate", broken)
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: errors, source: threshold, metric: integration_error_rate, threshold: 0.1, evaluate_every: 5s}
  - {name: down, source: integration_state}
""")
    at.integration(0, "stripe", "DOWN")
    at.run(until=0)
    assert states(at) == {"down:stripe": "firing"}
    assert at.reports[-1].errors == ["threshold: RuntimeError: figures unavailable"]
