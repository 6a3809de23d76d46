"""Integration health in Dagster, end to end against the sandbox on SQLite and PostgreSQL: the probe sensor's
results, states, observations and check evaluations (only on change or per window), failover published, the
daily assets and their SLA check, D&B calls in usage, and a code location with no integrations."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from sqlalchemy import Engine, func, select, update

from monitoring_pipeline.defs.dnb.registrations import dnb_registrations
from monitoring_pipeline.defs.dnb.resources import DnbApiResource
from monitoring_pipeline.defs.integrations.assets import build_daily_assets
from monitoring_pipeline.defs.integrations.checks import build_health_state_checks
from monitoring_pipeline.defs.integrations.definitions import integration_definitions
from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.retention import integration_probe_retention_job
from monitoring_pipeline.defs.integrations.sensors import build_probe_sensor
from monitoring_pipeline.defs.integrations.specs import integration_key
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.integrations.daily import compute_usage
from monitoring_pipeline.storage.database import shared_engine
from monitoring_pipeline.storage.schema import (
    integration_failover_events,
    integration_probe_hourly,
    integration_probe_results,
    integration_state_changes,
    integration_states,
)
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.defs.settings import PARTITIONS, SETTINGS

OBSERVATION_KEYS = {"state", "state_code", "probes", "failures", "latency_p50_ms", "latency_p95_ms",
                    "availability", "health_score"}


@dataclass
class Health:
    engine: Engine
    config_path: Path
    routing_file: Path
    resources: dict[str, Any]
    sensor: dg.SensorDefinition
    cursor: str | None = None

    def tick(self) -> tuple[list[dg.AssetObservation], list[dg.AssetCheckEvaluation]]:
        with dg.build_sensor_context(cursor=self.cursor, resources=self.resources) as context:
            result = self.sensor(context)
        self.cursor = result.cursor
        events = list(result.asset_events)
        return ([e for e in events if isinstance(e, dg.AssetObservation)],
                [e for e in events if isinstance(e, dg.AssetCheckEvaluation)])

    def age(self, seconds: float) -> None:
        """Move every stored timestamp back, as if ``seconds`` had passed (probes become due, windows end)."""
        with self.engine.begin() as connection:
            for row in connection.execute(select(integration_states)).all():
                shifted = {column: getattr(row, column) - timedelta(seconds=seconds)
                           for column in ("last_probe_at", "breaker_opened_at", "last_reported_at")
                           if getattr(row, column) is not None}
                connection.execute(update(integration_states)
                                   .where(integration_states.c.integration == row.integration).values(**shifted))

    def routing(self) -> dict[str, Any]:
        return json.loads(self.routing_file.read_text())


def write_config(path: Path, url: str, routing_file: Path) -> Path:
    def api(name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "category": "ai" if name in ("openai", "anthropic") else "payments",
                "url": f"{url}/{name}", **extra}

    path.write_text(yaml.safe_dump({
        "probing": {"report_every": "5m", "routing_file": str(routing_file)},
        "defaults": {"interval": "5s", "timeout": "2s", "retries": {"attempts": 0},
                     "thresholds": {"failure": 2, "success": 1}, "latency": {"degraded": "300ms"},
                     "breaker": {"failure_threshold": 10}},
        "call_costs": {"dnb": 0.5},
        "integrations": [
            api("stripe", cost_per_call=0.01),
            api("paypal"),
            api("mailchimp"),
            api("openai", failover={"group": "llm", "role": "primary"}),
            api("anthropic", failover={"group": "llm", "role": "secondary"}),
        ],
    }))
    return path


def wired(engine: Engine, path: Path, routing_file: Path) -> Health:
    resources = {
        "database": ProjectDatabaseResource(url=engine.url.render_as_string(hide_password=False)),
        "integrations": IntegrationsResource(path=str(path)),
    }
    return Health(engine, path, routing_file, resources, build_probe_sensor(load_integrations(path)))


@pytest.fixture
def health(engine, tmp_path, sandbox, sandbox_admin) -> Health:
    for name in ("stripe", "openai", "anthropic"):
        sandbox_admin.put_endpoint(name, latency_ms=[1, 20])
    sandbox_admin.put_endpoint("paypal", latency_ms=500)
    sandbox_admin.put_endpoint("mailchimp", status=503)
    routing_file = tmp_path / "data" / "integration_routing.json"
    return wired(engine, write_config(tmp_path / "integrations.yaml", sandbox.url, routing_file), routing_file)


def by_asset(events):
    return {event.asset_key.path[-1]: event for event in events}


def count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_sensor_probes_records_and_reports_only_what_changed(health, sandbox_admin):
    observations, checks = health.tick()
    assert set(by_asset(observations)) == {"stripe", "paypal", "mailchimp", "openai", "anthropic"}
    assert all(set(o.metadata) == OBSERVATION_KEYS for o in observations)
    checks = by_asset(checks)
    assert checks["stripe"].passed and checks["stripe"].check_name == "health_state"
    assert not checks["paypal"].passed and checks["paypal"].severity == dg.AssetCheckSeverity.WARN
    assert checks["paypal"].metadata["state"].value == "DEGRADED"
    assert checks["mailchimp"].metadata["state"].value == "PENDING"
    assert health.routing()["groups"]["llm"]["active"] == "openai"
    assert count(health.engine, integration_probe_results) == 5

    assert health.tick() == ([], [])  # nothing due yet: no probe, no event

    health.age(10)
    sandbox_admin.patch_endpoint("openai", status=503)
    observations, checks = health.tick()
    checks = by_asset(checks)
    assert set(checks) == {"mailchimp", "openai"}  # only the integrations whose state changed
    assert checks["mailchimp"].severity == dg.AssetCheckSeverity.ERROR and not checks["mailchimp"].passed
    assert checks["openai"].metadata["state"].value == "PENDING"
    assert set(by_asset(observations)) == {"mailchimp", "openai"}  # the others wait for their window

    health.age(10)
    observations, checks = health.tick()
    assert by_asset(checks)["openai"].metadata["state"].value == "DOWN"
    assert health.routing()["groups"]["llm"]["active"] == "anthropic"
    with health.engine.connect() as connection:
        (event,) = connection.execute(select(integration_failover_events)).all()
        assert (event.failover_group, event.from_integration, event.to_integration) == ("llm", "openai", "anthropic")
        table = integration_state_changes
        changes = connection.execute(select(table.c.integration, table.c.to_state).order_by(table.c.id)).all()
    assert ("openai", "DOWN") in changes and ("mailchimp", "DOWN") in changes

    health.age(400)  # the reporting window is over: every integration reports, no state changed
    observations, checks = health.tick()
    assert checks == []
    assert set(by_asset(observations)) == {"stripe", "paypal", "mailchimp", "openai", "anthropic"}
    assert by_asset(observations)["mailchimp"].metadata["state_code"].value == 4
    assert count(health.engine, integration_probe_results) == 20


def test_daily_assets_report_sla_and_usage_with_checks(health, sandbox_admin):
    health.tick()
    health.age(10)
    health.tick()
    config = load_integrations(health.config_path)
    daily = build_daily_assets(PARTITIONS, config)
    health_daily, usage_daily = daily.integration_health_daily, daily.integration_usage_daily
    today = datetime.now(UTC).date().isoformat()
    result = dg.materialize([health_daily, usage_daily], partition_key=today, resources=health.resources)
    assert result.success
    metadata = result.asset_materializations_for_node("integration_health_daily")[0].metadata
    assert metadata["availability__stripe"].value == 1.0
    assert metadata["availability__mailchimp"].value < 1.0
    assert metadata["sla_breached"].value >= 1
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "sla_met" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert "mailchimp" in check.metadata["integrations"].value
    usage = result.asset_materializations_for_node("integration_usage_daily")[0].metadata
    assert usage["calls__stripe"].value == 2 and usage["cost__stripe"].value == pytest.approx(0.02)
    again = dg.materialize([health_daily, usage_daily], partition_key=today, resources=health.resources)
    assert again.asset_materializations_for_node("integration_usage_daily")[0].metadata["calls"].value \
        == usage["calls"].value  # idempotent per day


def test_the_health_state_check_can_be_run_from_the_ui(health):
    health.tick()
    config = load_integrations(health.config_path)
    (checks,) = build_health_state_checks(config)
    result = dg.materialize([checks], resources=health.resources,
                            selection=dg.AssetSelection.checks(checks))
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert evaluations["stripe"].passed and not evaluations["mailchimp"].passed
    assert evaluations["mailchimp"].metadata["state"].value == "PENDING"


def test_our_dnb_calls_are_counted_for_usage(emulator, admin, sqlite_engine, tmp_path):
    admin.create_registration("USAGE_A")
    url = sqlite_engine.url.render_as_string(hide_password=False)
    resource = DnbApiResource(base_url=emulator.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                              state_dir=str(tmp_path / "state"), calls_database_url=url)
    result = dg.materialize([dnb_registrations], resources={"dnb": resource})
    calls = result.asset_materializations_for_node("dnb_registrations")[0].metadata["dnb_calls"].value
    assert calls >= 2  # a token and the registrations
    usage = {u.integration: u for u in compute_usage(shared_engine(url), [], datetime.now(UTC).date(), {"dnb": 0.5})}
    assert usage["dnb"].calls == calls and usage["dnb"].cost == pytest.approx(calls * 0.5)


def test_a_file_without_integrations_loads_and_probes_nothing(sqlite_engine, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("integrations: []\n")
    config = load_integrations(path)
    definitions = dg.Definitions.merge(
        dg.Definitions(resources={"database": ProjectDatabaseResource(
            url=sqlite_engine.url.render_as_string(hide_password=False))}),
        integration_definitions(replace(SETTINGS, integrations_file=path), PARTITIONS, config),
    )
    dg.Definitions.validate_loadable(definitions)
    sensor = build_probe_sensor(config)
    with dg.build_sensor_context(resources=definitions.resources) as context:
        result = sensor(context)
    assert list(result.asset_events) == []


def test_each_integration_is_an_external_asset_with_its_check(health):
    definitions = integration_definitions(replace(SETTINGS, integrations_file=health.config_path), PARTITIONS,
                                          load_integrations(health.config_path))
    specs = {spec.key: spec for spec in definitions.assets if isinstance(spec, dg.AssetSpec)}
    assert integration_key("openai") in specs and len(specs) == 5
    assert specs[integration_key("stripe")].metadata["url"].endswith("/stripe")
    repository = dg.Definitions.merge(definitions, dg.Definitions(resources={
        "database": health.resources["database"]})).get_repository_def()
    check_keys = repository.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(integration_key("stripe"), "health_state") in check_keys
    assert repository.get_sensor_def("integration_probe_sensor").minimum_interval_seconds == 15
    retention = repository.get_schedule_def("integration_probe_retention_schedule")
    assert retention.job_name == "integration_probe_retention_job"
    assert retention.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_demo_hands_dagster_every_secret_its_integrations_need(monkeypatch):
    from monitoring_pipeline.cli.demo import DEMO_INTEGRATIONS_CONFIG, DEMO_SANDBOX_SCENARIO, demo_services_environment
    from monitoring_pipeline.fakes.sandbox import load_scenario

    for name in ("SANDBOX_OAUTH_CLIENT_SECRET", "CLEARBIT_API_KEY", "DEMO_PUSH_TOKEN", "INTEGRATIONS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    env = demo_services_environment("http://127.0.0.1:8765", CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1:8766",
                                    load_scenario(DEMO_SANDBOX_SCENARIO))
    config = load_integrations(Path(env["INTEGRATIONS_CONFIG"]), environ=env)
    assert Path(env["INTEGRATIONS_CONFIG"]) == DEMO_INTEGRATIONS_CONFIG
    needed = {value for integration in config.integrations
              for fields in (integration.model_dump(), (integration.model_dump().get("auth") or {}))
              for key, value in fields.items() if key.endswith("_env") and value}
    assert needed == {"SANDBOX_OAUTH_CLIENT_SECRET", "CLEARBIT_API_KEY", "DEMO_PUSH_TOKEN"}
    assert all(env.get(name) for name in needed)
    assert len(env["DEMO_PUSH_TOKEN"]) >= 20


def test_days_without_data_are_gaps_in_the_plots_not_perfect_days(health, tmp_path):
    health.tick()
    daily = build_daily_assets(PARTITIONS, load_integrations(health.config_path))
    health_daily = daily.integration_health_daily
    today = datetime.now(UTC).date()
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        for day in (today - timedelta(days=1), today):  # yesterday: nothing probed
            dg.materialize([health_daily], partition_key=day.isoformat(), resources=health.resources,
                           instance=instance)
        stored = instance.fetch_materializations(dg.AssetKey("integration_health_daily"), limit=2).records
    by_day = {record.partition_key: record.asset_materialization.metadata for record in stored}
    empty, probed = by_day[(today - timedelta(days=1)).isoformat()], by_day[today.isoformat()]
    for key in ("availability__stripe", "budget_left__stripe", "p95_ms__stripe", "availability_min"):
        assert math.isnan(empty[key].value), key  # the UI plots NaN as a gap, not as 100 %
    assert empty["observed_share__stripe"].value == 0.0 and empty["observed_share_min"].value == 0.0
    assert probed["availability__stripe"].value == 1.0 and probed["observed_share__stripe"].value > 0.0
    assert not math.isnan(probed["p95_ms__stripe"].value)
    assert set(empty) == set(probed)  # the same keys every day


def test_the_retention_job_prunes_raw_results_and_the_daily_asset_no_longer_does(health):
    health.tick()
    table = integration_probe_results
    with health.engine.begin() as connection:  # three weeks old: past the 14-day retention
        for row in connection.execute(select(table.c.id, table.c.probed_at)).all():
            connection.execute(update(table).where(table.c.id == row.id)
                               .values(probed_at=row.probed_at - timedelta(days=21)))
    health.age(10)
    health.tick()
    old_day = (datetime.now(UTC) - timedelta(days=21)).date().isoformat()
    health_daily = build_daily_assets(PARTITIONS, load_integrations(health.config_path)).integration_health_daily
    assert dg.materialize([health_daily], partition_key=old_day, resources=health.resources).success
    assert count(health.engine, integration_probe_results) == 10  # the partition pruned nothing
    result = integration_probe_retention_job.execute_in_process(resources=health.resources)
    assert result.success
    (output,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["raw_rows_pruned"].value == 5 and metadata["hourly_rows_written"].value >= 5
    assert count(health.engine, integration_probe_results) == 5  # today's stay
    with health.engine.connect() as connection:
        hours = connection.execute(select(func.sum(integration_probe_hourly.c.calls))
                                   .where(integration_probe_hourly.c.hour < datetime.now(UTC) - timedelta(days=20))
                                   ).scalar_one()
    assert hours == 5  # the pruned probes live on in their hourly rollups
    again = integration_probe_retention_job.execute_in_process(resources=health.resources)
    assert again.success and count(health.engine, integration_probe_results) == 5


def test_a_secret_with_a_trailing_newline_is_in_no_row_cause_or_check(engine, tmp_path, sandbox, sandbox_admin,
                                                                       monkeypatch):
    secret = "sk_live_SUPERSECRET"
    sandbox_admin.put_endpoint("stripe", auth="bearer", auth_token=secret)
    monkeypatch.setenv("STRIPE_TOKEN", secret + "\n")  # `echo $TOKEN > file` leaves one
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"interval": "5s", "timeout": "2s", "retries": {"attempts": 0},
                                                 "thresholds": {"failure": 1}},
                                    "integrations": [{"name": "stripe", "category": "payments",
                                                      "url": f"{sandbox.url}/stripe",
                                                      "auth": {"type": "bearer", "token_env": "STRIPE_TOKEN"}}]}))
    health = wired(engine, path, tmp_path / "routing.json")
    observations, checks = health.tick()
    (check,) = checks
    assert check.metadata["state"].value == "DOWN"
    assert "STRIPE_TOKEN" in check.metadata["cause"].value  # names the variable
    with engine.connect() as connection:
        stored = [
            *connection.execute(select(integration_probe_results.c.error)).scalars(),
            *connection.execute(select(integration_states.c.cause)).scalars(),
            *connection.execute(select(integration_state_changes.c.cause)).scalars(),
        ]
    assert len(stored) == 3 and all("STRIPE_TOKEN" in text for text in stored)
    shown = repr(stored) + repr([check.metadata, *(o.metadata for o in observations)])
    assert "SUPERSECRET" not in shown
