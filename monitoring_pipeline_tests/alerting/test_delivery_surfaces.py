"""What a person uses: `alerts test RECEIVER` and `alerts deliveries` (click's CliRunner on the commands), the
Dagster delivery sensor, and the demo's local inbox, where the demo's receivers write files a newcomer can read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from monitoring_pipeline.alerting.delivery import Pacer, deliver_due
from monitoring_pipeline.alerting.receivers import ReceiversFileError, load_receivers
from monitoring_pipeline.cli.alert_delivery import ALERTS_SUBCOMMANDS, deliveries, receiver_test
from monitoring_pipeline.defs.alerting.delivery import delivery_definitions
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.fakes.inbox import LocalInbox, Reply
from monitoring_pipeline.settings import PROJECT_ROOT, ProjectSettings
from monitoring_pipeline.storage.database import shared_engine
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    SLACK_TOKEN,
    enqueue_all,
    group,
    outbox_rows,
    recording,  # noqa: F401 - fixture
    secrets_env,  # noqa: F401 - fixture
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets_env) -> Path:  # noqa: F811
    """A project whose alerting file has receiver ops (webhook, Slack) pointing at the recording receiver."""
    alerting = tmp_path / "alerting.yaml"
    alerting.write_text(
        "receivers:\n"
        "  - name: ops\n"
        "    channels:\n"
        "      - {type: slack, webhook_url_env: SLACK_OPS_URL}\n"
        f"      - {{type: webhook, url: '{secrets_env.url}/webhook/ops', name: audit}}\n", encoding="utf-8")
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'project.db'}")
    monkeypatch.setenv("ALERTING_CONFIG", str(alerting))
    return alerting


def test_the_commands_are_exported_for_the_alerts_group():
    assert [command.name for command in ALERTS_SUBCOMMANDS] == ["deliveries", "test"]


def test_alerts_test_prints_each_channels_outcome(project, secrets_env):  # noqa: F811
    result = CliRunner().invoke(receiver_test, ["ops"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("slack (slack): delivered 200 in ") for line in lines)
    assert any(line.startswith("audit (webhook): delivered 200 in ") for line in lines)
    assert lines[-1] == "receiver ops: test notification delivered to every channel"
    assert secrets_env.received("/webhook/ops")[0].json()["monitoringPipeline"]["kind"] == "test"


def test_alerts_test_fails_clearly(project, secrets_env):  # noqa: F811
    secrets_env.script("/slack/", Reply(404, "channel_not_found"))
    result = CliRunner().invoke(receiver_test, ["ops"])
    assert result.exit_code == 1
    assert "slack (slack): failed 404" in result.output and "channel_not_found" in result.output
    assert "Error: receiver ops: the test notification was not delivered everywhere" in result.output
    assert SLACK_TOKEN not in result.output
    unknown = CliRunner().invoke(receiver_test, ["nobody"])
    assert unknown.exit_code == 1 and unknown.output.count("\n") == 1
    assert "no receiver 'nobody'" in unknown.output and "(receivers: ops)" in unknown.output


def test_alerts_deliveries_reads_the_log(project, secrets_env):  # noqa: F811
    settings = ProjectSettings.from_env()
    engine = shared_engine(settings.database_url)
    enqueue_all(engine, group("trigger"), group("trigger", group_key="other"))
    deliver_due(engine, load_receivers(project), budget_seconds=10, pacer=Pacer())
    result = CliRunner().invoke(deliveries, ["--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert len(entries) == 4 and {e["outcome"] for e in entries} == {"delivered"}
    assert {"attempted_at", "receiver", "channel", "channel_type", "kind", "attempt", "outcome", "status_code",
            "latency_ms", "detail", "alert_ids"} <= set(entries[0])
    assert CliRunner().invoke(deliveries, ["--alert", "7", "--json"]).output.count('"outbox_id"') == 4
    assert json.loads(CliRunner().invoke(deliveries, ["--alert", "999", "--json"]).output) == []
    table = CliRunner().invoke(deliveries, []).output.splitlines()
    assert table[0].startswith("time (UTC)") and len(table) == 5
    assert any("audit (webhook)" in line and "delivered" in line for line in table[1:])


def test_the_sensor_delivers_what_is_due(project, secrets_env):  # noqa: F811
    settings = ProjectSettings.from_env()
    definitions = delivery_definitions(settings)
    engine = shared_engine(settings.database_url)
    enqueue_all(engine, group("trigger", created_at=datetime.now(UTC)))
    resources = {**definitions.resources, "database": ProjectDatabaseResource(url=settings.database_url)}
    sensor = definitions.sensors[0]
    with dg.build_sensor_context(resources=resources) as context:
        result = sensor(context)
    assert "1 delivered" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["delivered"] == 1
    assert [r.status for r in outbox_rows(engine)] == ["delivered"]


def test_a_bad_receivers_section_stops_the_definitions(tmp_path, monkeypatch):
    bad = tmp_path / "alerting.yaml"
    bad.write_text("receivers:\n  - name: ops\n    channels:\n      - {type: slack, webhook_url: https://x}\n",
                   encoding="utf-8")
    monkeypatch.setenv("ALERTING_CONFIG", str(bad))
    with pytest.raises(ReceiversFileError) as error:
        delivery_definitions(ProjectSettings.from_env())
    assert "receivers[0] (ops).channels[0]" in str(error.value) and "webhook_url" in str(error.value)


def test_the_demo_inbox_shows_every_channels_messages(tmp_path, monkeypatch, sqlite_engine):
    with LocalInbox(tmp_path / "inbox") as inbox:
        for name, value in inbox.environment().items():
            monkeypatch.setenv(name, value)
        demo = (PROJECT_ROOT / "config" / "alerting.demo.yaml").read_text(encoding="utf-8")
        demo = demo.replace("127.0.0.1:8768", inbox.receiver.url.removeprefix("http://"))
        demo = demo.replace("port: 8025", f"port: {inbox.mail.port}")
        config = tmp_path / "alerting.yaml"
        config.write_text(demo, encoding="utf-8")
        receivers = load_receivers(config)
        enqueue_all(sqlite_engine, group("trigger", receiver="demo-oncall"), group("trigger", receiver="demo-team"),
                    group("trigger", receiver="demo-lead"))
        report = deliver_due(sqlite_engine, receivers, budget_seconds=15, pacer=Pacer())
        assert report.delivered == 3 and report.attempts == 7
    files = sorted(p.name for p in (tmp_path / "inbox").iterdir())
    assert len([f for f in files if f.endswith(".eml")]) == 1
    assert len([f for f in files if f.endswith(".json")]) == 6
    index = (tmp_path / "inbox" / "index.txt").read_text(encoding="utf-8").splitlines()
    assert len(index) == 7
    assert all("stripe is DOWN" in line or "integration_down" in line for line in index), index
    assert any("email" in line and "(to lead@demo.localhost)" in line for line in index)
    slack = json.loads(next((tmp_path / "inbox").glob("*-slack.json")).read_text(encoding="utf-8"))
    assert slack["body"]["text"] == "[FIRING:2] CRITICAL: stripe is DOWN (+1 more)"
    assert "x-webhook-signature" not in json.loads(next((tmp_path / "inbox").glob("*-webhook.json")).read_text())[
        "headers"]


def test_status_shows_a_broken_receiver_and_what_it_holds(project, secrets_env):  # noqa: F811
    from monitoring_pipeline.service_status import collect_status, render_text

    settings = ProjectSettings.from_env()
    engine = shared_engine(settings.database_url)
    secrets_env.default("/slack/", Reply(404, "channel_not_found"))
    enqueue_all(engine, group("trigger"), group("trigger", group_key="other"))
    deliver_due(engine, load_receivers(project), budget_seconds=10, pacer=Pacer())
    report = collect_status(engine, settings)
    [ops] = report["alert_receivers"]
    assert (ops["receiver"], ops["state"], ops["held"]) == ("ops", "broken", 2)
    assert ops["reason"] == "slack (slack): 404 channel_not_found" and "config_hash" not in ops
    text = render_text(report)
    assert "Alert receivers" in text and "slack (slack): 404 channel_not_found" in text
    assert SLACK_TOKEN not in text and SLACK_TOKEN not in json.dumps(report)
