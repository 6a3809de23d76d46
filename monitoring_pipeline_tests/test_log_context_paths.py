"""The context fields of structured logs are set where the work happens: D&B landing (registration, DUNS and type of
a quarantined notification, the client's retries), the integration probe runner (integration), the alert engine and
its delivery (alert); secrets stay redacted. And the project's warnings of a sensor tick reach the tick's log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import dagster as dg
import pytest

from monitoring_pipeline.alerting.delivery import deliver_due
from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.logs import PROJECT_LOGGER, JsonFormatter
from monitoring_pipeline.notifications.landing import land_registration
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    SECRETS,
    channel_configs,
    receiver,
    recording,  # noqa: F401 - fixture
    secrets_env,  # noqa: F401 - fixture
)
from monitoring_pipeline_tests.alerting.harness import Acceptance
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.defs.dnb.pipeline import build_pipeline
from monitoring_pipeline_tests.production.conftest import integrations_file

REFERENCE = "LOG_REF"


@pytest.fixture
def json_lines(monkeypatch) -> Iterator[Callable[[], list[dict]]]:
    """Every line the project's loggers write from DEBUG up, as the JSON formatter writes it."""
    monkeypatch.setenv("DNB_CLIENT_SECRET", CLIENT_SECRET)  # a secret the redactor knows by its variable
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(PROJECT_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _with(lines: list[dict], **fields: str) -> list[dict]:
    return [line for line in lines if all(line.get(name) == value for name, value in fields.items())]


def test_landing_lines_carry_the_registration_and_a_quarantined_notifications_duns_and_type(
        emulator, admin, sqlite_engine, tmp_path, json_lines):
    admin.create_registration(REFERENCE)
    admin.generate(REFERENCE, 3)
    admin.queue(REFERENCE, [{"type": "UPDATE", "organization": {"duns": "12-34"}, "elements": []}])
    admin.faults(http_429={"count": 1, "paths": ["notifications"]})
    settings = DnbConnectionSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=emulator.url,
                                     state_dir=tmp_path / "state")
    with build_client(settings) as client:
        landing = land_registration(client, sqlite_engine, REFERENCE)
    assert (landing.landed, landing.quarantined) == (3, 1)

    lines = json_lines()
    retried = [line for line in lines if line["logger"] == "monitoring_pipeline.dnb.client"]
    assert retried and all(line["registration"] == REFERENCE for line in retried), retried
    [quarantined] = _with(lines, logger="monitoring_pipeline.notifications.landing", level="WARNING")
    assert (quarantined["registration"], quarantined["duns"], quarantined["notification_type"]) == \
        (REFERENCE, "12-34", "UPDATE")
    assert _with(lines, registration=REFERENCE, level="DEBUG"), "no summary line of the drain"
    assert CLIENT_SECRET not in json.dumps(lines)


def test_probe_lines_carry_the_integration(sandbox, sandbox_admin, tmp_path, json_lines):
    sandbox_admin.put_endpoint("stripe", status=503)
    config = load_integrations(integrations_file(tmp_path / "integrations.yaml", sandbox.url, ["stripe"]))
    [result] = ProbeRunner().run(config.integrations, time_budget=30)
    assert result.outcome == "failed"
    [line] = _with(json_lines(), logger="monitoring_pipeline.integrations.runner")
    assert line["integration"] == "stripe" and "failed" in line["message"]


DOWN = """
default_rules: false
rules:
  - name: integration_down
    source: integration_state
    states: [DOWN]
    severity: critical
receivers:
  - name: team
route: {receiver: team, group_by: [alertname, integration], group_wait: 0s, group_interval: 1m}
"""


def test_alert_engine_and_delivery_lines_carry_the_alert(sqlite_engine, secrets_env, json_lines):  # noqa: F811
    at = Acceptance(sqlite_engine, DOWN)
    at.integration(0, "stripe", "DOWN")
    at.run(until=10)
    fired = _with(json_lines(), logger="monitoring_pipeline.alerting.evaluation", alert="integration_down")
    assert fired and fired[0]["integration"] == "stripe" and "firing" in fired[0]["message"]

    team = receiver("team", {**channel_configs(secrets_env.url)["webhook"], "name": "webhook"})
    report = deliver_due(sqlite_engine, [team], now=at.now + timedelta(seconds=1), budget_seconds=10)
    assert report.delivered == 1
    [delivered] = _with(json_lines(), logger="monitoring_pipeline.alerting.delivery")
    assert (delivered["alert"], delivered["integration"]) == ("integration_down", "stripe")
    assert "delivered" in delivered["message"]
    text = json.dumps(json_lines())
    assert not any(secret in text for secret in SECRETS)


def test_the_d_and_b_clients_retries_inside_a_sensor_tick_reach_the_ticks_log(emulator, sqlite_engine, tmp_path):
    pipeline = build_pipeline(emulator.url, sqlite_engine, tmp_path, [REFERENCE])
    pipeline.admin.create_registration(REFERENCE)
    pipeline.admin.generate(REFERENCE, 5)
    pipeline.admin.faults(http_429={"count": 1, "paths": ["notifications"]})
    tick_log: list[logging.LogRecord] = []
    with dg.build_sensor_context(resources=pipeline.resources) as context:
        collector = logging.Handler()
        collector.emit = tick_log.append  # type: ignore[method-assign]
        context.log.addHandler(collector)
        pipeline.sensor(context)
    retries = [r.getMessage() for r in tick_log if r.getMessage().startswith("monitoring_pipeline.dnb.client: ")]
    assert retries and "429" in retries[0] and "retrying" in retries[0], [r.getMessage() for r in tick_log]
