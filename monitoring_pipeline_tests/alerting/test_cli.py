"""`monitoring-pipeline alerts ...` as a user runs it: readable output, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitoring_pipeline.alerting.config import load_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.cli import main
from monitoring_pipeline.storage.database import shared_engine
from monitoring_pipeline_tests.alerting.harness import T0, set_integration_state

CONFIG = """
default_rules: false
rules:
  - name: down
    source: integration_state
    severity: critical
    annotations: {summary: "{{ labels.integration }} is DOWN", runbook_url: "https://runbooks.example/down"}
  - {name: deleted, source: dnb_event, types: [DELETE]}
route:
  receiver: team
  group_by: [alertname]
  group_wait: 0s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - receiver: team          # no matchers: takes whatever reaches it
receivers: [{name: team}, {name: pager}]
"""


@pytest.fixture
def cli(tmp_path, monkeypatch):
    home = tmp_path / "home"
    config = tmp_path / "alerting.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(home))
    monkeypatch.setenv("ALERTING_CONFIG", str(config))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.env of the checkout
    engine = shared_engine(f"sqlite:///{home / 'project.db'}")
    set_integration_state(engine, "stripe", "DOWN", T0)
    AlertEngine(engine, load_alerting(config)).evaluate(now=T0)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, ["alerts", *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_list_and_show(cli):
    listing = cli("list")
    header, row = listing.splitlines()
    assert header.split() == ["ID", "STATE", "SEVERITY", "SINCE", "RULE", "SUMMARY"]
    assert row.split()[:3] == ["1", "firing", "critical"] and row.endswith("stripe is DOWN")
    assert json.loads(cli("list", "--json"))[0]["labels"]["integration"] == "stripe"
    assert cli("list", "--state", "resolved") == "no resolved alerts\n"
    shown = cli("show", "1")
    assert "alert 1: stripe is DOWN" in shown and "runbook_url https://runbooks.example/down" in shown
    assert "firing" in shown and "notified" in shown and "trigger to team" in shown
    assert [e["event"] for e in json.loads(cli("show", "1", "--json"))["timeline"]][:2] == ["pending", "firing"]


def test_ack_once_with_who_and_why(cli):
    assert cli("ack", "1", "--by", "alice", "--comment", "rolling back") == (
        "alert 1 acknowledged; reminders and escalation stop\n")
    assert cli("ack", "1") == "alert 1 was already acknowledged\n"
    shown = cli("show", "1")
    assert "acked" in shown and "by alice: rolling back" in shown
    assert "acknowledgement to team" in shown and "acknowledgement to pager" in shown  # one per group told


def test_errors_are_one_line(cli, tmp_path, monkeypatch):
    assert cli("ack", "99", code=1) == "Error: no alert 99\n"
    assert "resolves by itself when its condition stops holding" in cli("resolve", "1", code=1)
    assert "Invalid value for --match: a valid regular expression" in cli(
        "silence", "--match", 'integration=~"(str"', "--for", "1h", "--comment", "x", code=2)
    (tmp_path / "alerting.yaml").write_text("route: {receiver: nobody}\n")
    message = cli("check-config", code=1)
    assert message.count("\n") == 1 and "alerting.yaml: route.receiver: expected a receiver" in message
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:s3cret@127.0.0.1:1/none")
    message = cli("list", code=1)
    assert message.startswith("Error: the project database cannot be used:") and message.count("\n") == 1
    assert "s3cret" not in message


def test_silence_lifecycle(cli):
    created = cli("silence", "--match", "integration=stripe", "--match", "severity=~crit.*", "--for", "2h",
                  "--comment", "deploy", "--by", "bob")
    assert created.startswith('silence 1: integration="stripe", severity=~"crit.*" until ')
    listed = cli("silences")
    assert "active" in listed and "by bob: deploy" in listed
    assert json.loads(cli("silences", "--json"))[0]["matchers"] == ['integration="stripe"', 'severity=~"crit.*"']
    assert cli("unsilence", "1", "--by", "bob") == "silence 1 ended (applied at the next evaluation)\n"
    assert cli("silences") == "no silences\n"
    assert "ended by bob" in cli("silences", "--all")
    assert cli("unsilence", "1", code=1) == "Error: no silence 1 in force\n"


def test_routes_test_names_every_receiver_reached(cli):
    output = cli("routes", "test", "integration=stripe", "severity=critical").splitlines()
    assert output[-1] == "pager,team"
    assert output[0].startswith("route root/0{severity=\"critical\"}: pager")
    assert cli("routes", "test", "integration=stripe").splitlines()[-1] == "team"
    # A child that matches, even with continue, takes the alert from its parent (Alertmanager's semantics).


def test_check_config_summarises(cli):
    output = cli("check-config")
    assert "alerting.yaml: valid" in output and "rules: 2 enabled (0 default)" in output
    assert "receivers: team, pager" in output


def test_the_group_takes_more_commands():
    import click

    from monitoring_pipeline.cli.alerts import alerts

    @click.command("extra")
    def extra() -> None:
        click.echo("added")

    alerts.add_command(extra)
    try:
        assert CliRunner().invoke(main, ["alerts", "extra"]).output == "added\n"
    finally:
        alerts.commands.pop("extra")


def test_help_lists_every_command():
    output = CliRunner().invoke(main, ["alerts", "--help"]).output
    for command in ("list", "show", "ack", "resolve", "silence", "silences", "unsilence", "routes", "check-config"):
        assert f"  {command}" in output
    assert Path  # keep the import for readers of the fixture


def test_an_acknowledgement_from_the_command_line_links_to_the_alert(cli, tmp_path, monkeypatch):
    from sqlalchemy import select

    from monitoring_pipeline.alerting.model import Notification
    from monitoring_pipeline.storage.schema import alert_outbox

    ops_file = tmp_path / "ops.yaml"
    ops_file.write_text("service: {public_url: https://status.example.com}\n")
    monkeypatch.setenv("OPS_CONFIG", str(ops_file))
    cli("ack", "1", "--by", "alice")
    engine = shared_engine(f"sqlite:///{tmp_path / 'home' / 'project.db'}")
    with engine.connect() as connection:
        payloads = connection.execute(select(alert_outbox.c.payload)
                                      .where(alert_outbox.c.kind == "acknowledgement")).scalars().all()
    notices = [Notification.from_json(payload) for payload in payloads]
    assert notices and all(alert.links.get("alert") == "https://status.example.com/alerts/1"
                           for notice in notices for alert in notice.alerts)
