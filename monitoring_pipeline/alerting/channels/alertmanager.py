"""Push our alerts to an existing Prometheus Alertmanager (``POST /api/v2/alerts``), for teams that route
everything there. Alertmanager resolves an alert by itself once its ``endsAt`` passes, so, like Prometheus, we
send firing alerts with ``endsAt`` a few resend intervals ahead and re-send them while they fire (the delivery
step keeps them in ``alert_pushed_alerts``); a resolution sends ``endsAt`` = the moment it ended. Should we stop,
Alertmanager resolves them on its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from monitoring_pipeline.alerting.channels.base import (
    JSON_HEADERS,
    ChannelConfig,
    ChannelSetupError,
    EnvName,
    HttpChannel,
    HttpRequest,
    SendContext,
    SendResult,
    json_body,
    secret,
)
from monitoring_pipeline.alerting.channels.webhook import iso
from monitoring_pipeline.alerting.model import Alert, Notification
from monitoring_pipeline.config_errors import expected

# Prometheus sends endsAt = now + 4 x max(resend delay, evaluation interval): three missed re-sends are tolerated.
RESEND_FACTOR = 4


class AlertmanagerConfig(ChannelConfig):
    """An Alertmanager to push alerts to (its URL is not a secret; credentials are named by variable)."""

    type: Literal["alertmanager"]
    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")  # e.g. http://alertmanager:9093
    resend_interval_seconds: float = Field(60.0, ge=5, le=3600)
    bearer_token_env: EnvName | None = None
    username: str | None = None
    password_env: EnvName | None = None

    @model_validator(mode="after")
    def _basic_auth_complete(self) -> AlertmanagerConfig:
        if (self.username is None) != (self.password_env is None):
            raise expected("username and password_env together (HTTP basic auth), or neither", field="username")
        if self.username is not None and self.bearer_token_env is not None:
            raise expected("either bearer_token_env or username/password_env, not both", field="bearer_token_env")
        return self

    def build(self) -> AlertmanagerChannel:
        return AlertmanagerChannel(self)


def postable_alert(alert: Alert) -> dict[str, Any]:
    """An alert as Alertmanager's API takes it, without ``endsAt`` (set per send)."""
    annotations = dict(alert.annotations)
    if alert.state == "acknowledged" and alert.acknowledged_by:
        annotations["acknowledged_by"] = alert.acknowledged_by
    body: dict[str, Any] = {
        "labels": {"alertname": alert.rule, "severity": alert.severity, **alert.labels},
        "annotations": annotations,
        "startsAt": iso(alert.starts_at),
    }
    if alert.links.get("alert"):
        body["generatorURL"] = alert.links["alert"]
    return body


class AlertmanagerChannel(HttpChannel):
    type = "alertmanager"
    config: AlertmanagerConfig
    success_statuses = frozenset({200})

    def target_identity(self) -> tuple[str, ...]:
        return (self.config.url,)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.config.resend_interval_seconds * RESEND_FACTOR)

    def alerts(self, notification: Notification, now: datetime) -> list[dict[str, Any]]:
        """Every alert of the group: firing ones valid for a few resend intervals, resolved ones ended. A test is
        one alert that has already ended: Alertmanager takes it and notifies no one."""
        if notification.kind == "test":
            return [{"labels": {"alertname": "MonitoringPipelineTest", "receiver": notification.receiver},
                     "annotations": {"summary": f"Test notification for receiver {notification.receiver}"},
                     "startsAt": iso(now - timedelta(seconds=1)), "endsAt": iso(now)}]
        bodies = []
        for alert in notification.alerts:
            body = postable_alert(alert)
            if alert.state == "resolved":
                body["endsAt"] = iso(min(alert.ends_at or now, now))
            else:
                body["endsAt"] = iso(now + self.ttl)
            bodies.append(body)
        return bodies

    def request(self, bodies: list[dict[str, Any]]) -> HttpRequest:
        headers = dict(JSON_HEADERS)
        auth = None
        if self.config.bearer_token_env:
            headers["Authorization"] = f"Bearer {secret(self.config.bearer_token_env)}"
        if self.config.username and self.config.password_env:
            auth = (self.config.username, secret(self.config.password_env))
        return HttpRequest(f"{self.config.url.rstrip('/')}/api/v2/alerts", json_body(bodies), headers, auth=auth)

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        return self.request(self.alerts(notification, context.now))

    def refresh(self, bodies: list[dict[str, Any]], now: datetime) -> HttpRequest:
        """The re-send of still-firing alerts (bodies as stored by the delivery step) with a new ``endsAt``."""
        return self.request([{**body, "endsAt": iso(now + self.ttl)} for body in bodies])

    async def resend(self, bodies: list[dict[str, Any]], now: datetime, client: httpx.AsyncClient) -> SendResult:
        """Re-send still-firing alerts once, judged and redacted like any send."""
        try:
            request = self.refresh(bodies, now)
        except ChannelSetupError as error:
            return SendResult("failed", None, str(error))
        return await self.send_request(request, client)
