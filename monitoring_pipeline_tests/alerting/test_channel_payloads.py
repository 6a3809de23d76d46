"""The exact bytes each channel sends for each transition of an alert group (golden files), what they must say
(status, severity, links, acknowledgement, PagerDuty actions, Alertmanager's shape), and each remote's limits.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1`` and review the diff."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from monitoring_pipeline.alerting.channels.base import SendContext
from monitoring_pipeline.alerting.channels.discord import EMBEDS_TOTAL_LIMIT
from monitoring_pipeline.alerting.channels.pagerduty import dedup_key
from monitoring_pipeline.alerting.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    KINDS,
    SENT_AT,
    alert,
    channel_configs,
    group,
    receiver,
)

GOLDEN = Path(__file__).parent / "golden"
BASE = "http://receiver.test"
HTTP_TYPES = ("slack", "discord", "teams", "pagerduty", "twilio_sms", "webhook", "alertmanager")
SUFFIX = {"twilio_sms": "form"}


@pytest.fixture(autouse=True)
def fixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_OPS_URL", f"{BASE}/slack/services/T0/B0/secret")
    monkeypatch.setenv("DISCORD_OPS_URL", f"{BASE}/discord/api/webhooks/1/secret")
    monkeypatch.setenv("TEAMS_OPS_URL", f"{BASE}/teams/workflows/secret")
    monkeypatch.setenv("PD_ROUTING_KEY", "routing-key-0123456789abcdef0123")
    monkeypatch.setenv("TWILIO_TOKEN", "twilio-token")
    monkeypatch.setenv("WEBHOOK_HMAC", "hmac-secret")
    monkeypatch.setenv("WEBHOOK_URL", f"{BASE}/webhook/in?token=secret")


def channel(kind: str):  # type: ignore[no-untyped-def]
    return receiver("ops", {**channel_configs(BASE)[kind], "name": kind}).build_channels()[0]


def check_golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    assert content == path.read_bytes(), f"{name} differs from the golden file (UPDATE_GOLDEN=1 after review)"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel_type", HTTP_TYPES)
def test_http_payloads_are_exactly_the_golden_bytes(channel_type, kind):
    request = channel(channel_type).build(group(kind), SendContext(now=SENT_AT))
    check_golden(f"{channel_type}/{kind}.{SUFFIX.get(channel_type, 'json')}", request.body)


@pytest.mark.parametrize("kind", KINDS)
def test_email_messages_are_exactly_the_golden_bytes(kind):
    config = {"type": "email", "host": "smtp.example.com", "from": "Alerts <alerts@example.com>",
              "to": ["ops@example.com", "oncall@example.com"]}
    email = receiver("ops", config).build_channels()[0]
    root = group("trigger").idempotency_key
    message = email.compose(group(kind), SendContext(now=SENT_AT, thread_root=None if kind == "trigger" else root))
    check_golden(f"email/{kind}.eml", message.as_bytes())


def test_every_channel_says_what_happened():
    expected = {"trigger": "[FIRING:2] CRITICAL: stripe is DOWN (+1 more)",
                "reminder": "[FIRING:2] CRITICAL: still firing: stripe is DOWN (+1 more)",
                "escalation": "[FIRING:2] CRITICAL: escalated (level 2): stripe is DOWN (+1 more)",
                "acknowledgement": "[ACKNOWLEDGED:2] by alice: stripe is DOWN (+1 more)",
                "resolution": "[RESOLVED:2] stripe is DOWN (+1 more)"}
    for kind, headline in expected.items():
        notification = group(kind)
        context = SendContext(now=SENT_AT)
        assert json.loads(channel("slack").build(notification, context).body)["text"] == headline
        assert json.loads(channel("discord").build(notification, context).body)["content"] == headline
        card = json.loads(channel("teams").build(notification, context).body)["attachments"][0]["content"]
        assert card["body"][0]["text"] == headline and card["version"] == "1.4"
        assert json.loads(channel("pagerduty").build(notification, context).body)["payload"]["summary"] == headline
        sms = dict(parse_qsl(channel("twilio_sms").build(notification, context).body.decode()))
        assert sms["Body"].startswith(headline)


def test_the_first_level_of_an_escalation_policy_reads_as_a_page_not_an_escalation():
    first_page = replace(group("escalation"), escalation_level=1)
    text = json.loads(channel("slack").build(first_page, SendContext(now=SENT_AT)).body)["text"]
    assert text == "[FIRING:2] CRITICAL: stripe is DOWN (+1 more)"


def test_links_are_rendered_where_the_alert_has_them():
    context = SendContext(now=SENT_AT)
    slack = channel("slack").build(group("trigger"), context).body.decode()
    assert "<https://ops.example.com/alerts/7|View alert>" in slack
    assert "<https://ops.example.com/alerts/7/ack?sig=abc123|Acknowledge>" in slack
    discord = json.loads(channel("discord").build(group("trigger"), context).body)
    assert discord["embeds"][0]["url"] == "https://ops.example.com/alerts/7"
    assert "[Acknowledge](https://ops.example.com/alerts/7/ack?sig=abc123)" in discord["embeds"][0]["description"]
    card = json.loads(channel("teams").build(group("trigger"), context).body)["attachments"][0]["content"]
    actions = [a for item in card["body"][1]["items"] if item["type"] == "ActionSet" for a in item["actions"]]
    assert [(a["title"], a["url"]) for a in actions][:2] == [
        ("View alert", "https://ops.example.com/alerts/7"), ("Acknowledge", "https://ops.example.com/alerts/7/ack?sig=abc123")]
    sms = dict(parse_qsl(channel("twilio_sms").build(group("trigger"), context).body.decode()))["Body"]
    assert sms.splitlines()[1] == "Ack: https://ops.example.com/alerts/7/ack?sig=abc123"
    pd = json.loads(channel("pagerduty").build(group("trigger"), context).body)
    assert {"href": "https://ops.example.com/alerts/7", "text": "View alert: stripe is DOWN"} in pd["links"]
    assert not any("ack" in link["href"] for link in pd["links"])  # PagerDuty acknowledges in PagerDuty
    # Resolved and acknowledged alerts offer no acknowledge link.
    for kind in ("acknowledgement", "resolution"):
        assert "Acknowledge" not in channel("slack").build(group(kind), context).body.decode()
    # No links at all: nothing broken is rendered.
    bare = replace(group("trigger"), alerts=tuple(replace(a, links={}) for a in group("trigger").alerts))
    assert "View alert" not in channel("slack").build(bare, context).body.decode()


def test_pagerduty_actions_dedup_key_and_severity():
    context = SendContext(now=SENT_AT)
    actions = {kind: json.loads(channel("pagerduty").build(group(kind), context).body) for kind in KINDS}
    assert {k: e["event_action"] for k, e in actions.items()} == {
        "trigger": "trigger", "reminder": "trigger", "escalation": "trigger", "acknowledgement": "acknowledge",
        "resolution": "resolve"}
    assert {e["dedup_key"] for e in actions.values()} == {group("trigger").group_key}
    assert actions["trigger"]["payload"]["severity"] == "critical"
    assert actions["trigger"]["payload"]["source"] == "stripe"
    long_key = "x" * 300
    assert len(dedup_key(long_key)) == 64 and dedup_key(long_key) == dedup_key(long_key)
    long = replace(group("trigger"), group_key=long_key)
    assert json.loads(channel("pagerduty").build(long, context).body)["dedup_key"] == dedup_key(long_key)
    huge = replace(group("trigger"), alerts=(alert(annotations={"summary": "s" * 5000}),))
    assert len(json.loads(channel("pagerduty").build(huge, context).body)["payload"]["summary"]) == 1024
    test = channel("pagerduty").build(replace(group("trigger"), kind="test"), context)
    assert test.url.endswith("/v2/change/enqueue")  # a test pages no one


def test_webhook_is_alertmanager_v4_and_signed():
    context = SendContext(now=SENT_AT)
    request = channel("webhook").build(group("resolution"), context)
    body = json.loads(request.body)
    assert body["version"] == "4" and body["status"] == "resolved" and body["receiver"] == "ops"
    assert [a["status"] for a in body["alerts"]] == ["resolved", "resolved"]
    assert body["alerts"][0]["endsAt"] == "2026-12-04T09:42:00Z"
    assert body["commonLabels"] == {"alertname": "integration_down", "category": "payments"}
    firing = json.loads(channel("webhook").build(group("trigger"), context).body)
    assert firing["status"] == "firing" and firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert firing["monitoringPipeline"]["kind"] == "trigger"
    assert request.headers["Idempotency-Key"] == group("resolution").idempotency_key
    timestamp = request.headers[TIMESTAMP_HEADER]
    assert timestamp == str(int(SENT_AT.timestamp()))
    assert verify_signature("hmac-secret", timestamp, request.body, request.headers[SIGNATURE_HEADER],
                            now=SENT_AT.timestamp())
    assert not verify_signature("other", timestamp, request.body, request.headers[SIGNATURE_HEADER],
                                now=SENT_AT.timestamp())
    assert not verify_signature("hmac-secret", timestamp, request.body + b" ", request.headers[SIGNATURE_HEADER],
                                now=SENT_AT.timestamp())
    assert not verify_signature("hmac-secret", timestamp, request.body, request.headers[SIGNATURE_HEADER],
                                now=SENT_AT.timestamp() + 3600)  # a replay an hour later


def test_webhook_body_template():
    config = {**channel_configs(BASE)["webhook"], "content_type": "text/plain",
              "body_template": "{{ message.status | upper }} {{ alerts | length }}: "
                               "{% for a in alerts %}{{ a.labels.integration }} {% endfor %}"}
    request = receiver("ops", config).build_channels()[0].build(group("trigger"), SendContext(now=SENT_AT))
    assert request.body == b"FIRING 2: stripe paypal "
    assert request.headers["Content-Type"] == "text/plain"


def test_alertmanager_end_times():
    am = channel("alertmanager")
    firing = json.loads(am.build(group("trigger"), SendContext(now=SENT_AT)).body)
    assert firing[0]["labels"] == {"alertname": "integration_down", "severity": "critical", "integration": "stripe",
                                   "category": "payments"}
    assert firing[0]["endsAt"] == (SENT_AT + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    later = SENT_AT + timedelta(minutes=20)
    resolved = json.loads(am.build(group("resolution"), SendContext(now=later)).body)
    assert [a["endsAt"] for a in resolved] == ["2026-12-04T09:42:00Z", "2026-12-04T09:39:00Z"]
    test = json.loads(am.build(replace(group("trigger"), kind="test"), SendContext(now=later)).body)
    assert test[0]["endsAt"] == "2026-12-04T09:51:05Z"  # already ended: Alertmanager notifies no one


def test_limits_hold_for_a_huge_group():
    many = tuple(alert(i, integration=f"service-{i:03d}", annotations={"summary": f"service {i} " + "x" * 400,
                                                                       "description": "d" * 5000})
                 for i in range(120))
    notification = replace(group("trigger"), alerts=many)
    context = SendContext(now=SENT_AT)
    slack = json.loads(channel("slack").build(notification, context).body)
    assert len(slack["blocks"]) <= 50 and len(slack["blocks"][0]["text"]["text"]) <= 150
    assert all(len(b["text"]["text"]) <= 3000 for b in slack["blocks"] if b["type"] == "section")
    assert "…and 100 more alerts" in json.dumps(slack, ensure_ascii=False)
    discord = json.loads(channel("discord").build(notification, context).body)
    assert len(discord["content"]) <= 2000 and len(discord["embeds"]) <= 10
    total = sum(len(e["title"]) + len(e["description"]) + sum(len(f["name"]) + len(f["value"]) for f in e["fields"])
                + len(e.get("footer", {}).get("text", "")) for e in discord["embeds"])
    assert total <= EMBEDS_TOTAL_LIMIT
    assert all(len(e["title"]) <= 256 and len(e["description"]) <= 4096 for e in discord["embeds"])
    assert len(channel("teams").build(notification, context).body) <= 28_000
    sms = dict(parse_qsl(channel("twilio_sms").build(notification, context).body.decode()))["Body"]
    assert len(sms) == 1600 and sms.startswith("[FIRING:120] CRITICAL: service 0")
