"""Shared by the delivery and channel tests: an alert group at each of its transitions, receivers pointing at the
recording receiver, a test certificate, and the secrets the channels read (values the tests look for in logs)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from monitoring_pipeline.alerting.model import Alert, Notification
from monitoring_pipeline.alerting.outbox import enqueue
from monitoring_pipeline.alerting.receivers import ReceiverConfig
from monitoring_pipeline.fakes.inbox import RecordingReceiver
from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.storage.schema import alert_delivery_log, alert_outbox, alert_receiver_status

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
SENT_AT = datetime(2026, 12, 4, 9, 31, 5, tzinfo=UTC)
KINDS = ("trigger", "reminder", "escalation", "acknowledgement", "resolution")
# Secret values: each test that can leak one looks for it in the log, the outbox, receiver health and log records.
SLACK_TOKEN = "T000SLACKSECRET/B000/XXXXslacktoken"
ROUTING_KEY = "R0UT1NGKEYsecret0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token-secret-value"
HMAC_SECRET = "hmac-shared-secret-value"
SMTP_PASSWORD = "smtp-password-secret-value"
SECRETS = (SLACK_TOKEN, ROUTING_KEY, TWILIO_TOKEN, HMAC_SECRET, SMTP_PASSWORD)
TWILIO_SID = "AC" + "0123456789abcdef" * 2


def alert(id: int = 7, state: str = "firing", severity: str = "critical", integration: str = "stripe",
          **changes: Any) -> Alert:
    base = Alert(
        id=id, fingerprint=f"fp-{integration}", rule="integration_down", state=state,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        labels={"alertname": "integration_down", "integration": integration, "category": "payments"},
        annotations={"summary": f"{integration} is DOWN",
                     "description": f"{integration}: 3 probes in a row failed (HTTP 503)",
                     "runbook_url": f"https://runbooks.example.com/{integration}"},
        starts_at=AT, source="integration_state",
        links={"alert": f"https://ops.example.com/alerts/{id}",
               "acknowledge": f"https://ops.example.com/alerts/{id}/ack?sig=abc123"},
    )
    return replace(base, **changes)


def group(kind: str, receiver: str = "ops", group_key: str = "{}:{alertname=\"integration_down\"}",
          created_at: datetime = AT) -> Notification:
    """The same alert group (stripe critical, paypal warning) at each transition."""
    stripe, paypal = alert(7), alert(8, severity="warning", integration="paypal")
    if kind == "acknowledgement":
        stripe = replace(stripe, state="acknowledged", acknowledged_by="alice",
                         acknowledged_at=AT + timedelta(minutes=4), acknowledgement_comment="looking into it")
        paypal = replace(paypal, state="acknowledged", acknowledged_by="alice",
                         acknowledged_at=AT + timedelta(minutes=4))
    if kind == "resolution":
        stripe = replace(stripe, state="resolved", ends_at=AT + timedelta(minutes=12))
        paypal = replace(paypal, state="resolved", ends_at=AT + timedelta(minutes=9))
    return Notification(idempotency_key=f"{group_key}:{kind}:{receiver}", kind=kind,  # type: ignore[arg-type]
                        receiver=receiver, group_key=group_key, group_labels={"alertname": "integration_down"},
                        alerts=(stripe, paypal), created_at=created_at,
                        escalation_level=2 if kind == "escalation" else 0, route="payments")


@pytest.fixture
def recording() -> Iterator[RecordingReceiver]:
    with RecordingReceiver() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed_certificate(tmp_path_factory.mktemp("tls"), stem="smtp",
                                         not_after=datetime.now(UTC) + timedelta(days=2))


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, recording: RecordingReceiver) -> RecordingReceiver:
    """Channel secrets in the environment, webhook URLs pointing at the recording receiver."""
    monkeypatch.setenv("SLACK_OPS_URL", f"{recording.url}/slack/services/{SLACK_TOKEN}")
    monkeypatch.setenv("DISCORD_OPS_URL", f"{recording.url}/discord/api/webhooks/1/{SLACK_TOKEN}")
    monkeypatch.setenv("TEAMS_OPS_URL", f"{recording.url}/teams/workflows/{SLACK_TOKEN}")
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("TWILIO_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("WEBHOOK_HMAC", HMAC_SECRET)
    monkeypatch.setenv("WEBHOOK_URL", f"{recording.url}/webhook/in?token={SLACK_TOKEN}")
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    return recording


def channel_configs(base_url: str, **overrides: Any) -> dict[str, dict[str, Any]]:
    """One configuration per HTTP channel type, against ``base_url`` (quick timeouts, no pacing)."""
    common = {"timeout_seconds": 2.0, "rate_limit_per_second": 1000.0}
    configs = {
        "slack": {"type": "slack", "webhook_url_env": "SLACK_OPS_URL"},
        "discord": {"type": "discord", "webhook_url_env": "DISCORD_OPS_URL"},
        "teams": {"type": "teams", "webhook_url_env": "TEAMS_OPS_URL"},
        "pagerduty": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY", "url": f"{base_url}/pagerduty"},
        "twilio_sms": {"type": "twilio_sms", "account_sid": TWILIO_SID, "auth_token_env": "TWILIO_TOKEN",
                       "to": "+15005550006", "from": "+15005550001", "url": f"{base_url}/twilio"},
        "webhook": {"type": "webhook", "url_env": "WEBHOOK_URL", "hmac_secret_env": "WEBHOOK_HMAC"},
        "alertmanager": {"type": "alertmanager", "url": f"{base_url}/am"},
    }
    return {name: {**common, **config, **overrides} for name, config in configs.items()}


def receiver(name: str, *channels: dict[str, Any]) -> ReceiverConfig:
    return ReceiverConfig.model_validate({"name": name, "channels": list(channels)})


def enqueue_all(engine: Engine, *notifications: Notification) -> None:
    with engine.begin() as connection:
        for notification in notifications:
            enqueue(connection, notification)


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(select(alert_outbox).order_by(alert_outbox.c.id)).all()


def log_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(select(alert_delivery_log).order_by(alert_delivery_log.c.id)).all()


def health(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {row.receiver: row for row in connection.execute(select(alert_receiver_status))}


def everything_recorded(engine: Engine) -> str:
    """Every text the delivery step stored: the delivery log, the outbox's errors, receiver health."""
    parts = [repr(tuple(row)) for row in log_rows(engine)]
    parts += [repr((row.last_error, row.status)) for row in outbox_rows(engine)]
    parts += [repr(tuple(row)) for row in health(engine).values()]
    return "\n".join(parts)
