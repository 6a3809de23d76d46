"""A probing pass against the project database (SQLite and PostgreSQL): what is due, breakers, failover, storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.integrations.store import load_statuses
from monitoring_pipeline.storage.schema import (
    integration_failover_events,
    integration_probe_results,
    integration_routing,
    integration_state_changes,
)
from monitoring_pipeline_tests.integrations.conftest import integrations
from monitoring_pipeline_tests.integrations.scripted import DEGRADED, FAILED, UP, scripted_monitor, write_config


def api(name, **extra):
    return {"name": name, "category": "payments", "url": f"http://127.0.0.1:9/{name}", "interval": "30s",
            "timeout": "2s", "retries": {"attempts": 0}, "thresholds": {"failure": 2, "success": 2},
            "breaker": {"failure_threshold": 3, "open_for": "90s", "trial_calls": 2}, **extra}


def rows(engine, table, *order):
    with engine.connect() as connection:
        return connection.execute(select(table).order_by(*order)).all()


def test_only_due_integrations_are_probed_and_each_result_is_stored(engine, tmp_path):
    config = write_config(tmp_path, [api("fast"), api("slow_interval", interval="5m")])
    monitor, runner, clock = scripted_monitor(engine, config)
    monitor.run_pass()
    clock.advance(30)
    monitor.run_pass()
    clock.advance(30)
    monitor.run_pass()
    assert runner.calls == ["fast", "slow_interval", "fast", "fast"]
    stored = rows(engine, integration_probe_results, integration_probe_results.c.id)
    assert [(r.integration, r.outcome, r.state, r.status_code) for r in stored] == [
        ("fast", "up", "UP", 200), ("slow_interval", "up", "UP", 200), ("fast", "up", "UP", 200),
        ("fast", "up", "UP", 200)]
    assert stored[0].probed_at == stored[0].probed_at.replace(year=2026)  # aware timestamps on both backends


def test_state_changes_are_recorded_with_their_cause(engine, tmp_path):
    config = write_config(tmp_path, [api("stripe")])
    monitor, runner, clock = scripted_monitor(engine, config)
    for outcome in (UP, FAILED, FAILED, UP, UP):
        runner.outcomes["stripe"] = outcome
        monitor.run_pass()
        clock.advance(30)
    changes = rows(engine, integration_state_changes, integration_state_changes.c.id)
    assert [(c.from_state, c.to_state) for c in changes] == [
        ("UNKNOWN", "UP"), ("UP", "PENDING"), ("PENDING", "DOWN"), ("DOWN", "UP")]
    assert "2 consecutive failed probes" in changes[2].cause
    assert load_statuses(engine)["stripe"].health.state == "UP"


def test_an_open_breaker_skips_calls_until_trials_close_it(engine, tmp_path):
    config = write_config(tmp_path, [api("mailchimp")])
    monitor, runner, clock = scripted_monitor(engine, config)
    runner.outcomes["mailchimp"] = FAILED
    for _ in range(3):  # breaker failure_threshold 3
        outcome = monitor.run_pass()
        clock.advance(30)
    assert outcome.breaker_states["mailchimp"] == "open"
    calls_when_opened = len(runner.calls)
    runner.outcomes["mailchimp"] = UP
    outcome = monitor.run_pass()  # 30 s after opening: still open, no call made
    assert len(runner.calls) == calls_when_opened
    assert outcome.results[0].outcome == "skipped" and outcome.results[0].error_class == "circuit_open"
    clock.advance(60)  # 90 s after opening: half-open, first trial
    outcome = monitor.run_pass()
    assert len(runner.calls) == calls_when_opened + 1
    assert outcome.breaker_states["mailchimp"] == "half_open"
    clock.advance(30)
    outcome = monitor.run_pass()  # second successful trial closes it
    assert outcome.breaker_states["mailchimp"] == "closed"
    assert outcome.statuses["mailchimp"].health.state == "UP"
    skipped = [r for r in rows(engine, integration_probe_results, integration_probe_results.c.id)
               if r.outcome == "skipped"]
    assert len(skipped) == 1 and skipped[0].attempts == 0 and skipped[0].state == "DOWN"


def test_failover_switches_publishes_and_switches_back(engine, tmp_path):
    routing_file = tmp_path / "routing.json"
    config = write_config(tmp_path, [api("openai", failover={"group": "llm", "role": "primary"}),
                                     api("anthropic", failover={"group": "llm", "role": "secondary"})])
    monitor, runner, clock = scripted_monitor(engine, config, routing_file)
    monitor.run_pass()
    assert json.loads(routing_file.read_text())["groups"]["llm"]["active"] == "openai"
    runner.outcomes["openai"] = FAILED
    for _ in range(2):
        clock.advance(30)
        outcome = monitor.run_pass()
    assert [(e.from_provider, e.to_provider) for e in outcome.failovers] == [("openai", "anthropic")]
    assert json.loads(routing_file.read_text())["groups"]["llm"]["active"] == "anthropic"
    (routing,) = rows(engine, integration_routing)
    assert routing.active_integration == "anthropic" and json.loads(routing.weights) == {"anthropic": 1.0}
    runner.outcomes["openai"] = UP
    for _ in range(2):  # success threshold 2: DOWN -> UP, then back to the primary
        clock.advance(30)
        monitor.run_pass()
    events = rows(engine, integration_failover_events, integration_failover_events.c.id)
    assert [(e.from_integration, e.to_integration) for e in events] == [("openai", "anthropic"),
                                                                         ("anthropic", "openai")]
    assert json.loads(routing_file.read_text())["groups"]["llm"]["active"] == "openai"


def test_dependencies_are_advanced_first_and_explain_failures(engine, tmp_path):
    # The dependent is listed first: the pass still moves aws before sendgrid.
    config = write_config(tmp_path, [api("sendgrid", depends_on=["aws"]), api("aws")])
    monitor, runner, clock = scripted_monitor(engine, config)
    runner.outcomes.update(aws=FAILED, sendgrid=FAILED)
    for _ in range(2):
        monitor.run_pass()
        clock.advance(30)
    down = {c.integration: c for c in rows(engine, integration_state_changes) if c.to_state == "DOWN"}
    assert down["sendgrid"].explained_by == "aws"
    assert down["aws"].explained_by is None


def test_reports_once_per_window_and_on_every_change(engine, tmp_path):
    config = write_config(tmp_path, [api("stripe"), api("paypal")])
    monitor, runner, clock = scripted_monitor(engine, config)
    runner.outcomes["paypal"] = DEGRADED
    first = monitor.reports(monitor.run_pass(), every_seconds=300)
    assert set(first) == {"stripe", "paypal"}
    clock.advance(30)
    assert monitor.reports(monitor.run_pass(), every_seconds=300) == {}  # nothing changed, window not over
    runner.outcomes["stripe"] = FAILED
    clock.advance(30)
    changed = monitor.reports(monitor.run_pass(), every_seconds=300)
    assert set(changed) == {"stripe"}
    assert changed["stripe"].as_metadata()["state"] == "PENDING"
    for _ in range(9):
        clock.advance(30)
        runner.outcomes["stripe"] = UP
        reported = monitor.reports(monitor.run_pass(), every_seconds=300)
    assert set(reported) <= {"stripe", "paypal"}
    figures = monitor.reports(monitor.run_pass(), every_seconds=0)
    paypal = figures["paypal"].as_metadata()
    assert set(paypal) == {"state", "state_code", "probes", "failures", "latency_p50_ms", "latency_p95_ms",
                           "availability", "health_score"}
    assert paypal["health_score"] == 50.0 and paypal["latency_p50_ms"] == 900.0


def test_disabled_integrations_are_not_probed(engine, tmp_path):
    config = write_config(tmp_path, [api("on"), api("off", enabled=False)])
    monitor, runner, _ = scripted_monitor(engine, config)
    monitor.run_pass()
    assert runner.calls == ["on"]


def test_broken_integrations_fail_alone_and_the_pass_goes_on(engine, tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("healthy")
    sandbox_admin.put_endpoint("shaped", body={"items": [1, "two"]})  # a shape the JSONPath cannot sort
    ca_file, _ = write_self_signed_certificate(tmp_path / "tls", not_after=datetime.now(UTC) + timedelta(days=30))
    config = integrations(tmp_path, [
        {"name": "rotated", "url": "https://127.0.0.1:9/x", "tls": {"ca_file": str(ca_file)}},
        {"name": "shaped", "url": f"{sandbox.url}/shaped",
         "conditions": [{"json": "$.items.`sorted`", "exists": True}]},
        {"name": "healthy", "url": f"{sandbox.url}/healthy"},
    ])
    ca_file.unlink()  # rotated away after the file was loaded
    outcome = HealthMonitor(engine, config, runner=ProbeRunner(concurrency=1)).run_pass()
    assert outcome.due == 3 and len(outcome.results) == 3
    stored = {r.integration: r for r in rows(engine, integration_probe_results, integration_probe_results.c.id)}
    assert {name: (r.outcome, r.error_class) for name, r in stored.items()} == {
        "rotated": ("failed", "tls"), "shaped": ("failed", "internal"), "healthy": ("up", None)}
    assert stored["rotated"].error == f"tls.ca_file {ca_file} cannot be loaded (FileNotFoundError)"
    assert stored["shaped"].error.startswith("TypeError at ") and stored["shaped"].attempts == 1
    statuses = load_statuses(engine)
    assert statuses["healthy"].health.state == "UP"
    assert statuses["rotated"].health.state == "PENDING" and statuses["shaped"].health.state == "PENDING"
