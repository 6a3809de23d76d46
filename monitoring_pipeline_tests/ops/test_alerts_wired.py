"""The ops service over the alert engine's real tables: an alert the engine fires shows on the status page
(chromium), in the API and in /metrics; acknowledging goes through the engine; a one-click link in a real e-mail
(aiosmtpd), Slack and Discord message acknowledges once, and an altered or expired one is refused with a page."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.config import load_alerting
from monitoring_pipeline.alerting.delivery import deliver_due
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.alerting.receivers import load_receivers
from monitoring_pipeline.fakes.inbox import MailServer, RecordingReceiver
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.ack_links import AckSigner, notification_links
from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.ops.server import OpsServer
from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline.storage.schema import alert_outbox, alerts
from monitoring_pipeline_tests.ops.browser import chromium_page
from monitoring_pipeline_tests.ops.conftest import ACK_KEY, API_TOKEN, ops_config

SLACK_PATH = "/slack/services/T000/B000/slack-secret-path"
DISCORD_PATH = "/discord/api/webhooks/1/discord-secret-path"


def write_alerting(folder: Path, receivers: list[dict] | None = None) -> Path:
    """An alerting file: the default rules, and (with receivers) one route telling them at once."""
    raw: dict = {}
    if receivers:
        raw = {"route": {"receiver": "oncall", "group_wait": "0s", "group_by": ["alertname", "integration"]},
               "receivers": [{"name": "oncall", "channels": receivers}]}
    path = folder / "alerting.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def evaluate(engine: Engine, settings: ProjectSettings, public_url: str | None = None) -> AlertEngine:
    """One evaluation as the Dagster sensor runs it (links as AlertingResource builds them from the ops file)."""
    ops = OpsConfig.model_validate({"service": {"public_url": public_url}} if public_url else {})
    alert_engine = AlertEngine(engine, load_alerting(settings.alerting_file),
                               load_integrations(settings.integrations_file), links=notification_links(ops))
    alert_engine.evaluate()
    return alert_engine


def down_alert(engine: Engine, integration: str) -> store.AlertRow:
    with engine.connect() as connection:
        rows = [r for r in store.open_alerts(connection, ["integration_down"])
                if r.labels.get("integration") == integration]
    assert len(rows) == 1, rows
    return rows[0]


def metric(text: str, name: str, severity: str) -> float:
    found = re.search(rf'^{name}{{severity="{severity}"}} ([0-9.e+]+)$', text, re.M)
    assert found, f"{name} {severity} not in /metrics"
    return float(found.group(1))


@pytest.fixture
def settings(seeded, tmp_path) -> ProjectSettings:
    return replace(seeded[1], alerting_file=write_alerting(tmp_path))


@pytest.fixture
def started(engine, settings, ops_env):
    servers: list[OpsServer] = []

    def start(config: OpsConfig | None = None, **options) -> OpsServer:
        server = OpsServer(engine, settings, config or ops_config(), extra_routes=[], **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_fired_alert_is_in_the_api_and_metrics_and_acknowledging_goes_through_the_engine(
        engine, seeded, settings, started):
    down = seeded[0].down
    server = started()
    before = httpx.get(f"{server.url}/metrics").text
    assert metric(before, "alerts_total", "critical") == 0
    evaluate(engine, settings)
    row = down_alert(engine, down)
    assert row.state == "firing" and row.severity == "critical"

    listed = httpx.get(f"{server.url}/api/v1/alerts").json()
    assert listed["alerting_available"] is True
    mine = next(a for a in listed["alerts"] if a["id"] == row.id)
    assert (mine["rule"], mine["state"], mine["summary"]) == ("integration_down", "firing", f"{down} is DOWN")
    assert mine["labels"]["integration"] == down
    assert httpx.get(f"{server.url}/api/v1/alerts/{row.id}").json()["severity"] == "critical"
    events = [e["event"] for e in httpx.get(f"{server.url}/api/v1/alerts/{row.id}/timeline").json()["timeline"]]
    assert events[:2] == ["pending", "firing"]
    assert httpx.get(f"{server.url}/api/v1/alerts/999999").status_code == 404
    stats = httpx.get(f"{server.url}/api/v1/alerts/statistics?period=24h").json()
    assert stats["statistics"]["by_rule"]["integration_down"] == 1
    assert any(n["rule"] == "integration_down" for n in stats["noisiest_rules"])

    scraped = httpx.get(f"{server.url}/metrics").text
    assert metric(scraped, "alerts_total", "critical") == 1
    assert metric(scraped, "alerts_firing", "critical") == 1

    page = httpx.get(f"{server.url}/alerts/{row.id}")
    assert page.status_code == 200 and f"{down} is DOWN" in page.text and "firing" in page.text

    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    assert httpx.post(f"{server.url}/api/v1/alerts/{row.id}/acknowledge", json={"by": "alice"}).status_code == 401
    answer = httpx.post(f"{server.url}/api/v1/alerts/{row.id}/acknowledge", headers=auth,
                        json={"by": "alice", "comment": "on it"})
    assert answer.status_code == 200 and answer.json()["outcome"] == "acknowledged"
    acked = down_alert(engine, down)
    assert (acked.state, acked.acknowledged_by, acked.acknowledgement_comment) == ("acknowledged", "alice", "on it")
    again = httpx.post(f"{server.url}/api/v1/alerts/{row.id}/acknowledge", headers=auth, json={})
    assert again.json()["outcome"] == "already_acknowledged"
    scraped = httpx.get(f"{server.url}/metrics").text
    assert metric(scraped, "alerts_firing", "critical") == 0 and metric(scraped, "alerts_total", "critical") == 1


def test_silences_through_the_api_are_the_engines(engine, settings, started):
    server = started()
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    refused = httpx.post(f"{server.url}/api/v1/silences", headers=auth,
                         json={"matchers": {"integration": "stripe"}, "duration_minutes": 30})
    assert refused.status_code == 422 and "comment" in refused.json()["error"]
    created = httpx.post(f"{server.url}/api/v1/silences", headers=auth, json={
        "matchers": {"integration": "stripe"}, "duration_minutes": 30, "created_by": "bob", "comment": "migration"})
    assert created.status_code == 201
    silence = created.json()
    assert silence["matchers"] == ['integration="stripe"']
    assert [s["id"] for s in httpx.get(f"{server.url}/api/v1/silences").json()["silences"]] == [silence["id"]]
    assert httpx.delete(f"{server.url}/api/v1/silences/{silence['id']}", headers=auth).status_code == 200
    assert httpx.get(f"{server.url}/api/v1/silences").json()["silences"] == []
    assert httpx.delete(f"{server.url}/api/v1/silences/{silence['id']}", headers=auth).status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_fired_alert_is_on_the_status_page(engine, seeded, settings, started):
    down = seeded[0].down
    server = started(event_interval=0.3)
    with chromium_page() as (page, errors):
        page.goto(server.url + "/")
        assert "No active alerts." in page.locator("#alerts").inner_text()
        evaluate(engine, settings)
        row = down_alert(engine, down)
        # The live stream notices the new alert and the page re-renders it without a reload.
        page.wait_for_selector(f'#alerts tr[data-alert="{row.id}"]', timeout=15000)
        line = page.locator(f'#alerts tr[data-alert="{row.id}"]').inner_text()
        assert "critical" in line.lower() and f"{down} is DOWN" in line and "firing" in line
        page.locator(f'#alerts tr[data-alert="{row.id}"] a').click()
        page.wait_for_selector("#timeline")
        assert "integration_down" in page.locator("#alert").inner_text()
        assert errors == []


def _ack_link(text: str) -> str:
    found = re.search(r"https?://[^\s\"<>)]+/ack/v1\.[A-Za-z0-9_.-]+", text)
    assert found, "no acknowledgement link in the message"
    return found.group(0)


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_one_click_acknowledgement_from_a_real_email(engine, seeded, tmp_path, monkeypatch, ops_env):
    down = seeded[0].down
    with MailServer() as mail, RecordingReceiver() as chat:
        monkeypatch.setenv("SLACK_URL", chat.url + SLACK_PATH)
        monkeypatch.setenv("DISCORD_URL", chat.url + DISCORD_PATH)
        alerting = write_alerting(tmp_path, [
            {"type": "email", "host": "127.0.0.1", "port": mail.port, "security": "none",
             "from": "Alerts <alerts@example.com>", "to": ["oncall@example.com"], "timeout_seconds": 5},
            {"type": "slack", "webhook_url_env": "SLACK_URL", "rate_limit_per_second": 100},
            {"type": "discord", "webhook_url_env": "DISCORD_URL", "rate_limit_per_second": 100},
        ])
        settings = replace(seeded[1], alerting_file=alerting)
        with OpsServer(engine, settings, ops_config(), extra_routes=[]) as server:
            evaluate(engine, settings, public_url=server.url)
            report = deliver_due(engine, load_receivers(alerting), budget_seconds=20)
            assert report.failed == 0 and report.delivered >= 1
            row = down_alert(engine, down)

            received = [m.message for m in mail.mails if f"{down} is DOWN" in str(m.message["Subject"])]
            assert len(received) == 1
            message = received[0]
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            link = _ack_link(text)
            assert link.startswith(f"{server.url}/ack/v1.") and link in html
            assert f"{server.url}/alerts/{row.id}" in text
            # One notification, one link: Slack and Discord carry the same one (whichever is clicked first counts).
            slack = next(r for r in chat.received(SLACK_PATH) if f"{down} is DOWN" in r.body.decode())
            discord = next(r for r in chat.received("/discord") if f"{down} is DOWN" in r.body.decode())
            assert _ack_link(slack.body.decode()) == link == _ack_link(discord.body.decode())
            assert AckSigner(ACK_KEY.encode()).verify(link.rsplit("/", 1)[1], datetime.now(UTC)).alert_id == row.id

            page = httpx.get(link)  # what a mail scanner does: nothing changes
            assert page.status_code == 200 and "<form method=\"post\">" in page.text and f"{down} is DOWN" in page.text
            assert down_alert(engine, down).state == "firing"
            answer = httpx.post(link)
            assert answer.status_code == 200 and "Acknowledged" in answer.text
            acked = down_alert(engine, down)
            assert (acked.state, acked.acknowledged_by) == ("acknowledged", "acknowledgement link")
            with engine.connect() as connection:
                notices = connection.execute(select(alert_outbox.c.kind, alert_outbox.c.receiver)
                                             .where(alert_outbox.c.kind == "acknowledgement")).all()
            assert [tuple(n) for n in notices] == [("acknowledgement", "oncall")]

            reused = httpx.post(link)
            assert reused.status_code == 409 and "used before" in reused.text
            assert "was used at" in httpx.get(link).text
            token = link.rsplit("/", 1)[1]
            tampered = httpx.post(f"{server.url}/ack/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}")
            assert tampered.status_code == 400 and "signature does not match" in tampered.text
            assert token not in tampered.text
            expired = AckSigner(ACK_KEY.encode()).issue(row.id, datetime.now(UTC) - timedelta(days=8), 7 * 86400)
            gone = httpx.get(f"{server.url}/ack/{expired}")
            assert gone.status_code == 400 and "This link cannot be used" in gone.text and "expired" in gone.text

            # The acknowledgement notice goes out to the receiver that was told, without a link to acknowledge.
            deliver_due(engine, load_receivers(alerting), budget_seconds=20)
            notice = [m.message for m in mail.mails if "ACK" in str(m.message["Subject"]).upper()
                      and f"{down}" in str(m.message["Subject"])]
            assert notice and "/ack/" not in notice[-1].get_body(("plain",)).get_content()
    with engine.connect() as connection:
        assert connection.execute(select(alerts.c.state).where(alerts.c.id == row.id)).scalar_one() == "acknowledged"


def _statuspage(server: OpsServer, status: str, impact: str, updated_at: datetime) -> None:
    from monitoring_pipeline_tests.ops.conftest import STATUSPAGE_TOKEN
    from monitoring_pipeline_tests.ops.test_webhooks import INCIDENT

    body = json.loads(json.dumps(INCIDENT))
    stamp = updated_at.isoformat().replace("+00:00", "Z")
    body["incident"].update(status=status, impact=impact, updated_at=stamp,
                            created_at=(updated_at - timedelta(minutes=30)).isoformat().replace("+00:00", "Z"))
    answer = httpx.post(f"{server.url}/webhooks/statuspage", content=json.dumps(body).encode(),
                        headers={"X-Webhook-Token": STATUSPAGE_TOKEN})
    assert answer.status_code == 200 and answer.json()["outcome"] == "applied", answer.text


def test_a_provider_declared_incident_raises_an_alert_until_the_provider_resolves_it(engine, seeded, settings,
                                                                                      started):
    stripe = seeded[0].stripe_like
    server = started()
    now = datetime.now(UTC)

    def incident_alerts() -> list[store.AlertRow]:
        with engine.connect() as connection:
            return [r for r in store.open_alerts(connection, ["provider_incident"])]

    _statuspage(server, "investigating", "major", now - timedelta(minutes=5))
    evaluate(engine, settings)
    [alert] = incident_alerts()
    assert (alert.state, alert.severity) == ("firing", "error")
    assert {k: alert.labels[k] for k in ("integration", "provider", "incident")} == {
        "integration": stripe, "provider": "statuspage", "incident": "incident:lbkhbwn21v5q"}
    assert alert.annotations["summary"] == (f"{stripe}: Elevated API error rates (declared by the provider, major)")

    _statuspage(server, "identified", "critical", now - timedelta(minutes=2))  # worse: the same alert, more severe
    evaluate(engine, settings)
    [worse] = incident_alerts()
    assert (worse.id, worse.severity, worse.state) == (alert.id, "critical", "firing")

    _statuspage(server, "resolved", "critical", now - timedelta(minutes=1))
    evaluate(engine, settings)
    assert incident_alerts() == []
    with engine.connect() as connection:
        resolved = store.alert_by_id(connection, alert.id)
    assert resolved.state == "resolved" and resolved.resolved_at is not None


def test_the_fast_exposition_is_prometheus_clients_own(engine, seeded, settings):
    from prometheus_client import generate_latest

    from monitoring_pipeline.ops.metrics import metrics_collector, metrics_registry
    from monitoring_pipeline.ops.snapshot import StatusReader

    evaluate(engine, settings)
    reader = StatusReader(engine, settings)

    def families(text: bytes) -> list[str]:  # those whose values are ages (they grow between the two) left out
        return sorted(f for f in text.decode().split("# HELP ")[1:]
                      if not f.startswith(("dnb_landing_lag_seconds", "alert_outbox_oldest_due_seconds")))

    fast, reference = metrics_collector(reader).exposition(), generate_latest(metrics_registry(reader))
    assert families(fast) == families(reference)
    assert b'alerts_firing{severity="critical"} 1.0' in fast
