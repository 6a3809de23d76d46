"""E-mail over SMTP: STARTTLS (587), implicit TLS (465) or, on a trusted local relay, plain; optional AUTH. A
multipart text + HTML message whose subject says status, count and severity; ``Message-ID`` comes from the
idempotency key and ``In-Reply-To``/``References`` name the trigger's, so a resolution threads under its trigger.
SMTP's reply decides: 4xx and lost connections are retried, 5xx (a refused login, sender or every recipient) and
an untrusted certificate are permanent."""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal

import httpx
from pydantic import Field, field_validator, model_validator

from monitoring_pipeline.alerting.channels.base import (
    USER_AGENT,
    Channel,
    ChannelConfig,
    ChannelSetupError,
    EnvName,
    SendContext,
    SendResult,
    fingerprint,
    redact,
    secret,
    shorten,
    timed_result,
)
from monitoring_pipeline.alerting.channels.rendering import (
    alert_links,
    description,
    digest,
    footer,
    plain_text,
    shown_labels,
    state_line,
)
from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.config_errors import expected

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SEVERITY_COLOURS = {"critical": "#992d22", "error": "#e74c3c", "warning": "#b7950b", "info": "#2e86c1"}
RESOLVED_COLOUR = "#1e8449"


def _address(value: str) -> str:
    name, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n"):
        raise expected("an e-mail address such as alerts@example.com or \"Alerts <alerts@example.com>\"")
    return value


class EmailConfig(ChannelConfig):
    """SMTP delivery to one or more addresses (the password is a secret: named by environment variable)."""

    type: Literal["email"]
    host: str = Field(min_length=1, pattern=r"^[^\s/:]+$")
    port: int | None = Field(None, ge=1, le=65535)  # default: 587 starttls, 465 tls, 25 none
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = Field(None, min_length=1)
    password_env: EnvName | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    ca_file: Path | None = None  # trust this CA (a private relay); the system's store otherwise
    html: bool = True
    hello: str | None = None  # the name we greet the server with (EHLO); default: this machine's

    @field_validator("from_")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to_addresses(cls, values: list[str]) -> list[str]:
        return [_address(v) for v in values]

    @model_validator(mode="after")
    def _auth_complete(self) -> EmailConfig:
        if (self.username is None) != (self.password_env is None):
            raise expected("username and password_env together (SMTP AUTH), or neither", field="username")
        if self.username is not None and self.security == "none":
            raise expected("starttls or tls when a password is sent", field="security")
        return self

    @property
    def smtp_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    def build(self) -> EmailChannel:
        return EmailChannel(self)


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "monitoring-pipeline.invalid"


def message_id(idempotency_key: str, sender: str) -> str:
    return f"<{fingerprint('notification', idempotency_key)}@{_domain(sender)}>"


def _html(notification: Notification) -> str:
    summary = digest(notification)
    esc = html.escape
    rows = []
    for alert in summary.alerts:
        colour = RESOLVED_COLOUR if alert.state == "resolved" else SEVERITY_COLOURS.get(alert.severity, "#555")
        labels = "".join(f"<tr><td style=\"color:#666;padding-right:12px\">{esc(k)}</td><td>{esc(v)}</td></tr>"
                         for k, v in shown_labels(alert).items())
        links = " · ".join(f"<a href=\"{esc(url, quote=True)}\">{esc(title)}</a>" for title, url in alert_links(alert))
        rows.append(
            f"<div style=\"border-left:4px solid {colour};padding:4px 12px;margin:12px 0\">"
            f"<div style=\"font-weight:bold\">{esc(alert.summary)}</div>"
            f"<div style=\"color:#666\">{esc(alert.severity)} · {esc(state_line(alert))}</div>"
            + (f"<p>{esc(description(alert))}</p>" if description(alert) else "")
            + (f"<table style=\"font-size:13px\">{labels}</table>" if labels else "")
            + (f"<p>{links}</p>" if links else "")
            + "</div>"
        )
    return (
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif;font-size:14px\">\n"
        f"<h2 style=\"font-size:18px\">{esc(summary.headline)}</h2>\n" + "\n".join(rows)
        + f"\n<p style=\"color:#888;font-size:12px\">{esc(footer(notification))}</p>\n</body></html>\n"
    )


class EmailChannel(Channel):
    type = "email"
    config: EmailConfig

    def target_identity(self) -> tuple[str, ...]:
        return (self.config.host, str(self.config.smtp_port), self.config.username or "")

    def compose(self, notification: Notification, context: SendContext) -> EmailMessage:
        """The exact message: deterministic for a notification and a moment (the golden tests)."""
        sender = self.config.from_
        message = EmailMessage()
        message["Subject"] = digest(notification).headline
        message["From"] = sender
        message["To"] = ", ".join(self.config.to)
        message["Date"] = format_datetime(context.now)
        message["Message-ID"] = message_id(notification.idempotency_key, sender)
        if context.thread_root and context.thread_root != notification.idempotency_key:
            root = message_id(context.thread_root, sender)
            message["In-Reply-To"] = root
            message["References"] = root
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to alerts
        message["X-Mailer"] = USER_AGENT
        message.set_content(plain_text(notification), cte="quoted-printable")
        if self.config.html:
            message.add_alternative(_html(notification), subtype="html", cte="quoted-printable")
            message.set_boundary(f"=={fingerprint('boundary', notification.idempotency_key)}==")
        return message

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)

    def _deliver(self, message: EmailMessage, password: str | None,
                 to: Sequence[str] | None = None) -> dict[str, tuple[int, bytes]]:
        config = self.config
        timeout = config.timeout_seconds
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(config.host, config.smtp_port, local_hostname=config.hello, timeout=timeout,
                                      context=self._context())
        else:
            client = smtplib.SMTP(config.host, config.smtp_port, local_hostname=config.hello, timeout=timeout)
        with client:
            if config.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if config.username and password is not None:
                client.login(config.username, password)
            recipients = [address for _, address in getaddresses(list(to or config.to))]
            return client.send_message(message, from_addr=parseaddr(config.from_)[1], to_addrs=recipients)

    def deliver_message(self, message: EmailMessage, to: Sequence[str] | None = None) -> SendResult:
        """Send a message composed elsewhere (the reports) through this channel's server, to ``to`` (default: the
        channel's own recipients), blocking; SMTP's answer classified as for notifications."""
        started = time.perf_counter()
        try:
            password = secret(self.config.password_env) if self.config.password_env else None
        except ChannelSetupError as error:
            return SendResult("failed", None, str(error))
        try:
            refused = self._deliver(message, password, to)
        except Exception as error:  # noqa: BLE001 - every SMTP, TLS and socket fault is a result to classify
            result = classify_smtp_error(error)
            return timed_result(SendResult(result.outcome, result.status_code,
                                           shorten(redact(result.detail, [password or ""]))), started)
        detail = "250 accepted" + (f"; refused: {', '.join(f'{a} {c}' for a, (c, _) in refused.items())}"
                                   if refused else "")
        return timed_result(SendResult("delivered", 250, detail), started)

    async def send(self, notification: Notification, context: SendContext, client: httpx.AsyncClient) -> SendResult:
        try:
            message = self.compose(notification, context)
        except ChannelSetupError as error:
            return SendResult("failed", None, str(error))
        return await asyncio.to_thread(self.deliver_message, message)


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {words}".strip()


def classify_smtp_error(error: BaseException) -> SendResult:
    """4xx replies and lost connections are worth retrying; 5xx replies, a refused login and a certificate we
    do not trust are not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        detail = "every recipient refused: " + "; ".join(
            f"{address} {_reply(code, text)}" for address, (code, text) in error.recipients.items())
        outcome = "retry" if any(400 <= c < 500 for c in codes) else "failed"
        return SendResult(outcome, codes[0] if codes else None, detail)
    if isinstance(error, smtplib.SMTPResponseException):  # auth, sender, data and every other reply
        code = error.smtp_code
        outcome = "retry" if 400 <= code < 500 else "failed"
        return SendResult(outcome, code, _reply(code, error.smtp_error))
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return SendResult("failed", None, f"the server does not offer it: {error}")
    if isinstance(error, ssl.SSLCertVerificationError):
        return SendResult("failed", None, f"TLS certificate not trusted: {error.verify_message}")
    if isinstance(error, smtplib.SMTPServerDisconnected | ssl.SSLError | OSError | TimeoutError):
        return SendResult("retry", None, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    if isinstance(error, smtplib.SMTPException):
        return SendResult("failed", None, f"{type(error).__name__}: {error}")
    return SendResult("retry", None, f"{type(error).__name__}: {error}")
