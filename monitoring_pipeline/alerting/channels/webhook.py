"""Generic webhook: Alertmanager's version-4 JSON, so every tool that takes Alertmanager webhooks takes ours, with
our own fields under ``monitoringPipeline`` (kind, idempotency key, escalation level, acknowledgement). Optionally
signed (HMAC-SHA256 over ``<timestamp>.<body>``, in ``X-Webhook-Signature: sha256=<hex>`` with
``X-Webhook-Timestamp``), optionally with a body rendered from a sandboxed Jinja2 template. Every request carries
``Idempotency-Key``, so a receiver can drop the one duplicate a crash may cause."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import Field, field_validator, model_validator

from monitoring_pipeline.alerting.channels.base import (
    USER_AGENT,
    ChannelConfig,
    ChannelSetupError,
    EnvName,
    HttpChannel,
    HttpRequest,
    SendContext,
    json_body,
    secret,
    secret_identity,
)
from monitoring_pipeline.alerting.channels.rendering import ordered_alerts, plain_text
from monitoring_pipeline.alerting.model import Alert, Notification
from monitoring_pipeline.config_errors import expected

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert that has not ended
_TEMPLATES = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "idempotency-key",
                               SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()})


class WebhookConfig(ChannelConfig):
    """A webhook receiving Alertmanager's version-4 JSON (or a templated body)."""

    type: Literal["webhook"]
    url: str | None = Field(None, pattern=r"^https?://\S+$")  # a URL without secrets in it...
    url_env: EnvName | None = None  # ...or the name of the variable holding one that has a token in it
    hmac_secret_env: EnvName | None = None
    bearer_token_env: EnvName | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body_template: str | None = None
    content_type: str = "application/json"
    max_alerts: int = Field(0, ge=0)  # 0: all; otherwise the rest are counted in truncatedAlerts
    external_url: str = ""  # Alertmanager's externalURL field: where this deployment's UI is

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise expected("either url or url_env (the name of a variable holding the URL), not both", field="url")
        return self

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if name.lower() in _RESERVED_HEADERS or name.lower() == "authorization":
                raise expected(f"no {name} header here: it is set by the channel (use bearer_token_env for "
                               "credentials)")
        return headers

    @field_validator("body_template")
    @classmethod
    def _template_compiles(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                _TEMPLATES.from_string(template)
            except TemplateSyntaxError as error:
                raise expected(f"a Jinja2 template ({error.message}, line {error.lineno})") from None
        return template

    def build(self) -> WebhookChannel:
        return WebhookChannel(self)


def iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else ZERO_TIME


def alertmanager_alert(alert: Alert) -> dict[str, Any]:
    """One alert as Alertmanager's webhook shows it."""
    labels = {"alertname": alert.rule, "severity": alert.severity, **alert.labels}
    return {
        "status": "resolved" if alert.state == "resolved" else "firing",
        "labels": labels,
        "annotations": dict(alert.annotations),
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.ends_at) if alert.state == "resolved" else ZERO_TIME,
        "generatorURL": alert.links.get("alert", ""),
        "fingerprint": alert.fingerprint,
    }


def _common(mappings: list[dict[str, str]]) -> dict[str, str]:
    if not mappings:
        return {}
    first, rest = mappings[0], mappings[1:]
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in rest)}


def webhook_message(notification: Notification, max_alerts: int = 0, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook payload, version 4, plus our ``monitoringPipeline`` object."""
    alerts = [alertmanager_alert(a) for a in ordered_alerts(notification)]
    shown = alerts[:max_alerts] if max_alerts else alerts
    ours = ordered_alerts(notification)
    acknowledged = next((a for a in ours if a.acknowledged_by), None)
    extension: dict[str, Any] = {
        "kind": notification.kind,
        "idempotencyKey": notification.idempotency_key,
        "escalationLevel": notification.escalation_level,
        "route": notification.route,
        "severity": notification.severity,
        "decidedAt": iso(notification.created_at),
        "alertIds": [a.id for a in ours],
    }
    links = {str(a.id): dict(a.links) for a in ours if a.links}
    if links:
        extension["links"] = links  # per alert id: its page and, while it fires, its one-click acknowledgement
    if acknowledged is not None:
        extension["acknowledgedBy"] = acknowledged.acknowledged_by
        extension["acknowledgedAt"] = iso(acknowledged.acknowledged_at)
        if acknowledged.acknowledgement_comment:
            extension["acknowledgementComment"] = acknowledged.acknowledgement_comment
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(shown),
        "status": "firing" if notification.firing and notification.kind != "resolution" else "resolved",
        "receiver": notification.receiver,
        "groupLabels": dict(sorted(notification.group_labels.items())),
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "alerts": shown,
        "monitoringPipeline": extension,
    }


def signature(secret_value: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, ``<timestamp>.<body>``)."""
    digest = hmac.new(secret_value.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret_value: str, timestamp: str, body: bytes, header: str, now: float,
                     tolerance_seconds: float = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (no replays)."""
    try:
        fresh = abs(now - float(timestamp)) <= tolerance_seconds
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret_value, timestamp, body), header)


class WebhookChannel(HttpChannel):
    type = "webhook"
    config: WebhookConfig

    def target_identity(self) -> tuple[str, ...]:
        return (self.config.url or secret_identity(self.config.url_env or ""),)

    def body(self, notification: Notification) -> bytes:
        message = webhook_message(notification, self.config.max_alerts, self.config.external_url)
        if self.config.body_template is None:
            return json_body(message)
        try:
            return _TEMPLATES.from_string(self.config.body_template).render(
                message=message, notification=notification, alerts=ordered_alerts(notification),
                text=plain_text(notification)).encode()
        except TemplateError as error:  # e.g. a field the template names that this notification lacks
            raise ChannelSetupError(f"body_template: {type(error).__name__}: {error}") from None

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        url = self.config.url or secret(self.config.url_env or "")
        body = self.body(notification)
        headers = {"Content-Type": self.config.content_type, "User-Agent": USER_AGENT, **self.config.headers,
                   "Idempotency-Key": notification.idempotency_key}
        if self.config.bearer_token_env:
            headers["Authorization"] = f"Bearer {secret(self.config.bearer_token_env)}"
        if self.config.hmac_secret_env:
            timestamp = str(int(context.now.timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(secret(self.config.hmac_secret_env), timestamp, body)
        return HttpRequest(url, body, headers)
