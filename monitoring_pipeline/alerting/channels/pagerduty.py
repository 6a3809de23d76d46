"""PagerDuty Events API v2: ``trigger`` (also for reminders and escalations: PagerDuty updates the open incident),
``acknowledge`` and ``resolve``, all with one ``dedup_key`` per alert group, so acknowledging here acknowledges
there and a retry after a crash is de-duplicated by PagerDuty. A test notification is a change event, which
reaches the service without paging anyone. 202 is success, 400 permanent, 429 and 5xx retried; at most 120
events a minute per routing key."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field

from monitoring_pipeline.alerting.channels.base import (
    JSON_HEADERS,
    ChannelConfig,
    EnvName,
    HttpChannel,
    HttpRequest,
    SendContext,
    json_body,
    secret,
    secret_identity,
)
from monitoring_pipeline.alerting.channels.rendering import alert_links, digest, labels_text, state_line, truncate
from monitoring_pipeline.alerting.model import Notification

DEFAULT_URL = "https://events.pagerduty.com"
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
MAX_EVENT_BYTES = 512_000
ACTIONS = {"acknowledgement": "acknowledge", "resolution": "resolve"}  # every other kind triggers


class PagerDutyConfig(ChannelConfig):
    """PagerDuty Events API v2 (the integration's routing key is a secret: named by environment variable)."""

    type: Literal["pagerduty"]
    routing_key_env: EnvName
    url: str = Field(DEFAULT_URL, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")  # the events API's base URL
    source: str | None = Field(None, min_length=1, max_length=255)  # default: the alert's integration label
    client: str = "monitoring-pipeline"
    client_url: str | None = Field(None, pattern=r"^https?://")

    def build(self) -> PagerDutyChannel:
        return PagerDutyChannel(self)


def dedup_key(group_key: str) -> str:
    """The alert group's key, or its SHA-256 when longer than PagerDuty's 255 characters."""
    return group_key if len(group_key) <= DEDUP_KEY_LIMIT else hashlib.sha256(group_key.encode()).hexdigest()


class PagerDutyChannel(HttpChannel):
    type = "pagerduty"
    default_rate_per_second = 2.0  # 120 events a minute per routing key
    config: PagerDutyConfig
    success_statuses = frozenset({200, 202})

    def target_identity(self) -> tuple[str, ...]:
        return (secret_identity(self.config.routing_key_env), self.config.url)

    def event(self, notification: Notification, routing_key: str) -> dict[str, object]:
        summary = digest(notification)
        alerts = summary.alerts
        first = alerts[0] if alerts else None
        labels = dict(first.labels) if first else dict(notification.group_labels)
        details: dict[str, object] = {
            "kind": notification.kind,
            "firing": [f"{a.summary} [{a.severity}] {state_line(a)}" + (f" ({labels_text(dict(a.labels))})"
                                                                         if a.labels else "")
                       for a in alerts if a.state != "resolved"],
            "resolved": [f"{a.summary} ({state_line(a)})" for a in alerts if a.state == "resolved"],
            "group_labels": dict(notification.group_labels),
            "receiver": notification.receiver,
        }
        if notification.escalation_level:
            details["escalation_level"] = notification.escalation_level
        if first and first.annotations.get("description"):
            details["description"] = first.annotations["description"]
        event: dict[str, object] = {
            "routing_key": routing_key,
            "event_action": ACTIONS.get(notification.kind, "trigger"),
            "dedup_key": dedup_key(notification.group_key),
            "payload": {
                "summary": truncate(summary.headline, SUMMARY_LIMIT),
                "source": self.config.source or labels.get("integration") or labels.get("instance")
                or "monitoring-pipeline",
                "severity": summary.severity,  # critical | error | warning | info: PagerDuty's own four
                "timestamp": (first.starts_at if first else notification.created_at).isoformat(),
                "component": labels.get("component") or labels.get("integration") or (first.rule if first else ""),
                "group": labels.get("category") or notification.route or notification.receiver,
                "class": first.rule if first else notification.kind,
                "custom_details": details,
            },
            "client": self.config.client,
        }
        if self.config.client_url:
            event["client_url"] = self.config.client_url
        links = [{"href": url, "text": f"{title}: {a.summary}"} for a in alerts for title, url in alert_links(a)
                 if title != "Acknowledge"]  # acknowledging in PagerDuty acknowledges the incident itself
        if links:
            event["links"] = links
        if len(json_body(event)) > MAX_EVENT_BYTES:
            event["payload"]["custom_details"] = {  # type: ignore[index]
                "error": "details removed: the event exceeded PagerDuty's 512 KB"}
        return event

    def change_event(self, notification: Notification, routing_key: str) -> dict[str, object]:
        """A test: a change event shows on the service's timeline and pages no one."""
        summary = digest(notification)
        return {"routing_key": routing_key, "payload": {
            "summary": truncate(summary.headline, SUMMARY_LIMIT),
            "source": self.config.source or "monitoring-pipeline",
            "timestamp": notification.created_at.isoformat(),
            "custom_details": {"receiver": notification.receiver, "kind": "test"},
        }}

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        routing_key = secret(self.config.routing_key_env)
        base = self.config.url.rstrip("/")
        if notification.kind == "test":
            return HttpRequest(f"{base}/v2/change/enqueue", json_body(self.change_event(notification, routing_key)),
                               JSON_HEADERS)
        return HttpRequest(f"{base}/v2/enqueue", json_body(self.event(notification, routing_key)), JSON_HEADERS)
