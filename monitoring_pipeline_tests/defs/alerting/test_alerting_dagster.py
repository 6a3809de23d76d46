"""Alerting in Dagster: the evaluation sensor turns a failed asset check and a failed run into alerts (and a later
success back), reports the engine's figures and health in one line and a few events, alert_history_daily plots a
day's figures, and alerting_healthy fails while the engine falls behind or a receiver is broken."""

from __future__ import annotations

import importlib
import math
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import insert, select

import monitoring_pipeline.definitions
from monitoring_pipeline.alerting.queries import list_alerts
from monitoring_pipeline.defs.alerting.assets import alert_engine_spec, build_history_asset
from monitoring_pipeline.defs.alerting.checks import alerting_healthy
from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.defs.alerting.sensors import alert_run_failure_sensor, build_evaluation_sensor
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.fakes.inbox import RecordingReceiver
from monitoring_pipeline.storage.schema import alert_delivery_log, alert_receiver_status, alerts
from monitoring_pipeline_tests.defs.settings import PARTITIONS, SETTINGS

CONFIG = """
default_rules: false
rules:
  - {name: check_failed, source: asset_check, annotations: {summary: "{{ labels.check_name }} failed"}}
  - {name: run_failed, source: dagster_run, severity: error}
  - {name: receiver_failing, source: receiver_health}
receivers: [{name: team}]
route: {receiver: team, group_wait: 0s}
"""


@dg.asset
def orders() -> int:
    return 1


@dg.asset_check(asset=orders)
def orders_complete() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="3 orders missing")


@dg.op
def explode() -> None:
    raise RuntimeError("the warehouse is on fire")


@dg.job
def nightly_export() -> None:
    explode()


@dg.op
def fine() -> None:
    pass


@dg.job(name="nightly_export")
def nightly_export_fixed() -> None:
    fine()


@pytest.fixture
def setup(tmp_path):
    config = tmp_path / "alerting.yaml"
    config.write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 'project.db'}"
    resources = {"database": ProjectDatabaseResource(url=url), "alerting": AlertingResource(path=str(config))}
    sensor = build_evaluation_sensor(SETTINGS)
    defs = dg.Definitions(assets=[orders, alert_engine_spec], asset_checks=[orders_complete, alerting_healthy],
                          jobs=[nightly_export], sensors=[sensor, alert_run_failure_sensor], resources=resources)
    with dg.instance_for_test() as instance:
        yield instance, defs, resources, sensor, resources["database"].get_engine()


def _tick(instance, defs, resources, sensor, cursor=None):  # type: ignore[no-untyped-def]
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                 repository_def=defs.get_repository_def()) as context:
        return sensor(context)


def test_a_failed_check_becomes_an_alert_reported_in_one_line(setup):
    instance, defs, resources, sensor, engine = setup
    assert dg.materialize([orders, orders_complete], instance=instance).success
    result = _tick(instance, defs, resources, sensor)
    assert result.skip_reason.skip_message == "1 firing, 1 newly fired, 0 resolved, 1 notifications queued"
    with engine.connect() as connection:
        [alert] = list_alerts(connection)
    assert (alert.rule, alert.labels["asset"], alert.labels["check_name"], alert.severity) == (
        "check_failed", "orders", "orders_complete", "warning")
    assert alert.annotations["summary"] == "orders_complete failed"
    assert alert.details["description"] == "3 orders missing"
    observation = next(e for e in result.asset_events if isinstance(e, dg.AssetObservation))
    assert observation.metadata["firing"].value == 1 and observation.metadata["firing_warning"].value == 1
    health = next(e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation))
    assert health.check_name == "alerting_healthy" and health.passed

    again = _tick(instance, defs, resources, sensor, result.cursor)  # the same evaluation: nothing new, no events
    assert again.skip_reason.skip_message == "1 firing, 0 newly fired, 0 resolved, 0 notifications queued"
    assert list(again.asset_events) == []


def test_a_failed_run_fires_and_the_next_success_resolves_it(setup):
    instance, defs, resources, sensor, engine = setup
    failed = nightly_export.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    run = instance.get_run_by_id(failed.run_id)
    failure_event = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.PIPELINE_FAILURE)
    with dg.build_run_status_sensor_context(sensor_name="alert_run_failure_sensor", dagster_instance=instance,
                                            dagster_run=run, dagster_event=failure_event,
                                            resources=resources) as context:
        alert_run_failure_sensor(context.for_run_failure())
    _tick(instance, defs, resources, sensor)
    with engine.connect() as connection:
        [alert] = list_alerts(connection)
    assert (alert.rule, alert.labels["job"], alert.details["run_id"]) == ("run_failed", "nightly_export",
                                                                           failed.run_id)
    assert "the warehouse is on fire" in alert.details["error"]

    assert nightly_export_fixed.execute_in_process(instance=instance).success
    _tick(instance, defs, resources, sensor)
    with engine.connect() as connection:
        assert list_alerts(connection) == []
        assert [a.rule for a in list_alerts(connection, "resolved")] == ["run_failed"]


def test_what_an_evaluation_queues_is_sent_in_the_same_tick(tmp_path):
    with RecordingReceiver() as receiver:
        config = tmp_path / "alerting.yaml"
        config.write_text(CONFIG.replace("receivers: [{name: team}]", "receivers: [{name: team, channels: "
                                         f"[{{type: webhook, url: '{receiver.url}/team'}}]}}]"))
        url = f"sqlite:///{tmp_path / 'project.db'}"
        resources = {"database": ProjectDatabaseResource(url=url), "alerting": AlertingResource(path=str(config))}
        sensor = build_evaluation_sensor(SETTINGS)
        defs = dg.Definitions(assets=[orders, alert_engine_spec], asset_checks=[orders_complete, alerting_healthy],
                              sensors=[sensor], resources=resources)
        with dg.instance_for_test() as instance:
            assert dg.materialize([orders, orders_complete], instance=instance).success
            result = _tick(instance, defs, resources, sensor)
        assert result.skip_reason.skip_message == "1 firing, 1 newly fired, 0 resolved, 1 notifications queued"
        [request] = receiver.received("/team")  # no delivery sensor tick needed
        assert request.json()["alerts"][0]["labels"]["check_name"] == "orders_complete"
        with resources["database"].get_engine().connect() as connection:
            [entry] = connection.execute(select(alert_delivery_log)).all()
        assert (entry.receiver, entry.kind, entry.outcome) == ("team", "trigger", "delivered")


def test_alerting_healthy_fails_while_behind_or_a_receiver_is_broken(setup):
    instance, defs, resources, sensor, engine = setup
    check_job = dg.define_asset_job("health", selection=dg.AssetSelection.checks(alerting_healthy))
    job_defs = dg.Definitions(assets=[alert_engine_spec], asset_checks=[alerting_healthy], jobs=[check_job],
                              resources=resources)

    def verdict():  # type: ignore[no-untyped-def]
        result = job_defs.resolve_job_def("health").execute_in_process(instance=instance)
        evaluation = result.get_asset_check_evaluations()[0]
        return evaluation.passed, evaluation.metadata["details"].value

    passed, details = verdict()
    assert not passed and "the alert engine has not evaluated yet" in details
    _tick(instance, defs, resources, sensor)
    assert verdict() == (True, "all well")
    with engine.begin() as connection:
        connection.execute(insert(alert_receiver_status).values(
            receiver="team", state="broken", reason="slack: 404 channel_not_found", since=datetime.now(UTC),
            consecutive_failures=3))
    passed, details = verdict()
    assert not passed and "receiver team is broken: slack: 404 channel_not_found" in details


def test_alert_history_daily_plots_a_day(tmp_path):
    config = tmp_path / "alerting.yaml"
    config.write_text(CONFIG)
    url = f"sqlite:///{tmp_path / 'project.db'}"
    resources = {"database": ProjectDatabaseResource(url=url), "alerting": AlertingResource(path=str(config))}
    engine = resources["database"].get_engine()
    day = date(2026, 3, 2)
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)

    def alert(rule, severity, fired_minutes, acked_after=None, resolved_after=None):  # type: ignore[no-untyped-def]
        fired = start + timedelta(minutes=fired_minutes)
        return {"fingerprint": f"{rule}{fired_minutes}", "rule": rule, "source": "asset_check", "severity": severity,
                "state": "resolved" if resolved_after else "firing", "is_event": False, "labels": "{}",
                "annotations": "{}", "details": "{}", "silenced": False, "inhibited": False, "condition": False,
                "active_streak": 0, "inactive_streak": 0, "event_count": 1, "active_since": fired,
                "last_observed_at": fired, "fired_at": fired, "updated_at": fired,
                "acknowledged_at": fired + timedelta(minutes=acked_after) if acked_after else None,
                "resolved_at": fired + timedelta(minutes=resolved_after) if resolved_after else None}

    with engine.begin() as connection:
        connection.execute(insert(alerts), [
            alert("check_failed", "warning", 0, acked_after=4, resolved_after=30),
            alert("check_failed", "warning", 60, resolved_after=10),
            alert("run_failed", "error", 120, acked_after=8),
            alert("check_failed", "critical", 60 * 24),  # the next day
        ])
        connection.execute(insert(alert_delivery_log), [
            {"outbox_id": 1, "idempotency_key": f"k{n}", "receiver": "team", "channel": "slack",
             "channel_type": "slack", "kind": "trigger", "attempt": 1, "attempted_at": start, "outcome": outcome}
            for n, outcome in enumerate(["delivered", "delivered", "retry", "failed"])])
        connection.execute(insert(alert_delivery_log).values(  # an Alertmanager re-send: not a notification
            outbox_id=1, idempotency_key="k0", receiver="team", channel="am", channel_type="alertmanager",
            kind="resend", attempt=2, attempted_at=start, outcome="delivered"))
    asset = build_history_asset(PARTITIONS)
    result = dg.materialize([asset], resources=resources, partition_key=day.isoformat())
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("alert_history_daily")[0]
                .metadata.items()}
    assert metadata["alerts_fired"] == 3 and metadata["fired_warning"] == 2 and metadata["fired_critical"] == 0
    assert metadata["fired__check_failed"] == 2 and metadata["fired__run_failed"] == 1
    assert metadata["fired__receiver_failing"] == 0  # every configured rule has its key, quiet ones too
    assert metadata["alerts_acknowledged"] == 2 and metadata["alerts_resolved"] == 2
    assert metadata["time_to_acknowledge_p50_minutes"] == 6.0
    assert metadata["time_to_resolve_p50_minutes"] == 20.0
    assert (metadata["notifications_sent"], metadata["notifications_failed"]) == (2, 1)
    assert "| check_failed | 2 | warning |" in metadata["noisiest_rules"]
    empty = dg.materialize([asset], resources=resources, partition_key="2026-03-05")
    quiet = {k: v.value for k, v in empty.asset_materializations_for_node("alert_history_daily")[0].metadata.items()}
    assert quiet["alerts_fired"] == 0 and math.isnan(quiet["time_to_resolve_p50_minutes"])


def test_a_bad_alerting_file_stops_the_code_location_from_loading(monkeypatch, tmp_path):
    (tmp_path / "alerting.yaml").write_text("route: {receiver: pager}\n")
    monkeypatch.setenv("ALERTING_CONFIG", str(tmp_path / "alerting.yaml"))
    try:
        with pytest.raises(ValueError, match=r"alerting.yaml: route.receiver: expected a receiver defined"):
            importlib.reload(monitoring_pipeline.definitions)
    finally:
        monkeypatch.delenv("ALERTING_CONFIG")
        importlib.reload(monitoring_pipeline.definitions)


def test_the_code_location_has_the_alerting_definitions():
    defs = importlib.reload(monitoring_pipeline.definitions).defs
    names = {s.name for s in defs.sensors}
    assert {"alert_evaluation_sensor", "alert_run_failure_sensor"} <= names
    assert defs.get_assets_def("alert_history_daily") is not None
    assert "alerting" in defs.resources
