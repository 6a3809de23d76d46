"""E-mail against a real SMTP server (aiosmtpd) started by the test: STARTTLS and implicit TLS with a test
certificate and AUTH; the received MIME message; threading of a resolution under its trigger; what SMTP's answers
mean (refused login, recipient, data; a certificate not trusted; a server that is gone)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitoring_pipeline.alerting.channels.base import SendContext, SendResult
from monitoring_pipeline.alerting.delivery import deliver_due
from monitoring_pipeline.fakes.inbox import MailServer
from monitoring_pipeline.httpserver import free_port
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    SENT_AT,
    SMTP_PASSWORD,
    certificate,  # noqa: F401 - fixture
    enqueue_all,
    everything_recorded,
    group,
    log_rows,
    receiver,
)


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)


@pytest.fixture(params=["starttls", "tls"])
def mail_server(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[MailServer]:  # noqa: F811
    cert, key = certificate
    with MailServer(security=request.param, tls_cert=cert, tls_key=key, users={"alerts": SMTP_PASSWORD}) as server:
        yield server


def email_config(server: MailServer, cert: Path, **overrides: Any) -> dict[str, Any]:
    return {"type": "email", "host": "127.0.0.1", "port": server.port, "security": server.security,
            "username": "alerts", "password_env": "SMTP_PASSWORD", "from": "Alerts <alerts@example.com>",
            "to": ["ops@example.com", "Oncall <oncall@example.com>"], "ca_file": str(cert), "timeout_seconds": 5,
            **overrides}


def send(config: dict[str, Any], kind: str = "trigger") -> SendResult:
    channel = receiver("ops", config).build_channels()[0]

    async def once() -> SendResult:
        async with httpx.AsyncClient() as client:
            return await channel.send(group(kind), SendContext(now=SENT_AT), client)

    return asyncio.run(once())


def test_a_message_arrives_encrypted_and_authenticated(smtp_env, mail_server, certificate):  # noqa: F811
    result = send(email_config(mail_server, certificate[0]))
    assert (result.outcome, result.status_code) == ("delivered", 250)
    [mail] = mail_server.received()
    assert mail.tls and mail.login == "alerts"
    assert mail.mail_from == "alerts@example.com"
    assert mail.rcpt_tos == ("ops@example.com", "oncall@example.com")
    message = mail.message
    assert message["Subject"] == "[FIRING:2] CRITICAL: stripe is DOWN (+1 more)"
    assert message["From"] == "Alerts <alerts@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "stripe is DOWN [critical] firing since 2026-12-04 09:30 UTC" in text
    assert "Acknowledge: https://ops.example.com/alerts/7/ack?sig=abc123" in text
    assert '<a href="https://ops.example.com/alerts/7/ack?sig=abc123">Acknowledge</a>' in html
    assert "paypal is DOWN" in html


def test_a_resolution_threads_under_its_trigger(smtp_env, engine, mail_server, certificate):  # noqa: F811
    ops = receiver("ops", email_config(mail_server, certificate[0]))
    enqueue_all(engine, group("trigger"), group("acknowledgement"), group("resolution"))
    for _ in range(3):  # one per pass: a group's notifications go out in order
        deliver_due(engine, [ops], budget_seconds=10)
    trigger, acknowledgement, resolution = (m.message for m in mail_server.received())
    assert trigger["In-Reply-To"] is None
    assert acknowledgement["In-Reply-To"] == trigger["Message-ID"] == resolution["In-Reply-To"]
    assert resolution["References"] == trigger["Message-ID"]
    assert resolution["Subject"] == "[RESOLVED:2] stripe is DOWN (+1 more)"
    assert len({trigger["Message-ID"], acknowledgement["Message-ID"], resolution["Message-ID"]}) == 3


def test_a_wrong_password_is_permanent_and_not_recorded(engine, monkeypatch, mail_server, certificate):  # noqa: F811
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password-" + SMTP_PASSWORD)
    ops = receiver("ops", email_config(mail_server, certificate[0]))
    enqueue_all(engine, group("trigger"))
    report = deliver_due(engine, [ops], budget_seconds=10)
    assert report.held == 1 and report.broken == ["ops"]
    [entry] = log_rows(engine)
    assert (entry.outcome, entry.status_code) == ("held", 535)
    assert SMTP_PASSWORD not in everything_recorded(engine)
    assert mail_server.received() == []


def test_an_untrusted_certificate_is_permanent(smtp_env, mail_server, certificate):  # noqa: F811
    config = email_config(mail_server, certificate[0])
    del config["ca_file"]
    result = send(config)
    assert result.outcome == "failed" and "certificate" in result.detail


@pytest.fixture
def plain_server() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


def plain(server: MailServer) -> dict[str, Any]:
    return {"type": "email", "host": "127.0.0.1", "port": server.port, "security": "none",
            "from": "alerts@example.com", "to": ["ops@example.com", "gone@example.com"], "timeout_seconds": 5}


def test_smtp_replies_decide_retry_or_failure(plain_server):
    plain_server.data_replies.append("451 4.3.0 Mail server temporarily rejected message")
    result = send(plain(plain_server))
    assert (result.outcome, result.status_code) == ("retry", 451)
    plain_server.data_replies.append("554 5.7.1 Message rejected as spam")
    result = send(plain(plain_server))
    assert (result.outcome, result.status_code) == ("failed", 554)
    plain_server.refuse_recipients.update({"ops@example.com": "550 5.1.1 No such user",
                                           "gone@example.com": "550 5.1.1 No such user"})
    result = send(plain(plain_server))
    assert (result.outcome, result.status_code) == ("failed", 550)
    plain_server.refuse_recipients["ops@example.com"] = "450 4.2.1 Mailbox busy"
    assert send(plain(plain_server)).outcome == "retry"
    plain_server.refuse_recipients.pop("ops@example.com")
    result = send(plain(plain_server))  # one recipient takes it: delivered, the refusal noted
    assert result.outcome == "delivered" and "gone@example.com 550" in result.detail


def test_a_server_that_is_gone_is_retried():
    config = {"type": "email", "host": "127.0.0.1", "port": free_port(), "security": "none",
              "from": "alerts@example.com", "to": ["ops@example.com"], "timeout_seconds": 2}
    result = send(config)
    assert result.outcome == "retry" and "ConnectionRefused" in result.detail


def test_starttls_is_required_by_the_channel(plain_server):
    config = {**plain(plain_server), "security": "starttls"}
    result = send(config)
    assert result.outcome == "failed" and "STARTTLS" in result.detail.upper()


def test_a_password_without_encryption_is_refused_in_the_configuration():
    with pytest.raises(ValueError, match="starttls or tls when a password is sent"):
        receiver("ops", {"type": "email", "host": "smtp.example.com", "security": "none", "username": "u",
                         "password_env": "SMTP_PASSWORD", "from": "a@example.com", "to": ["b@example.com"]})
