"""Microsoft Teams through a Workflows (Power Automate) webhook: a message with one Adaptive Card (version 1.4,
what Teams renders): the headline in the status colour, a container per alert with its facts and link buttons.
Workflows answers 202 (200 from older connectors); the card stays under Teams' ~28 KB message size."""

from __future__ import annotations

from typing import Literal

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
from monitoring_pipeline.alerting.channels.rendering import (
    alert_links,
    description,
    digest,
    footer,
    shown_labels,
    state_line,
)
from monitoring_pipeline.alerting.model import Alert, Notification

CARD_VERSION = "1.4"
MAX_MESSAGE_BYTES = 27_000  # Teams refuses messages over about 28 KB; leave room for the envelope
STATUS_COLOURS = {"FIRING": "Attention", "ACKNOWLEDGED": "Warning", "RESOLVED": "Good", "TEST": "Accent"}


class TeamsConfig(ChannelConfig):
    """Microsoft Teams Workflows webhook (the URL is a secret: named by environment variable)."""

    type: Literal["teams"]
    webhook_url_env: EnvName

    def build(self) -> TeamsChannel:
        return TeamsChannel(self)


def _alert_container(alert: Alert) -> dict[str, object]:
    items: list[dict[str, object]] = [
        {"type": "TextBlock", "text": alert.summary, "weight": "Bolder", "wrap": True,
         "color": "Good" if alert.state == "resolved" else "Default"},
        {"type": "TextBlock", "text": state_line(alert), "isSubtle": True, "spacing": "None", "wrap": True},
    ]
    if description(alert):
        items.append({"type": "TextBlock", "text": description(alert), "wrap": True})
    facts = [{"title": "severity", "value": alert.severity}]
    facts += [{"title": k, "value": v} for k, v in shown_labels(alert).items()]
    items.append({"type": "FactSet", "facts": facts})
    links = alert_links(alert)
    if links:
        items.append({"type": "ActionSet", "actions": [{"type": "Action.OpenUrl", "title": title, "url": url}
                                                       for title, url in links]})
    return {"type": "Container", "separator": True, "items": items}


class TeamsChannel(HttpChannel):
    type = "teams"
    default_rate_per_second = 1.0  # Workflows throttles bursts; one card a second per webhook stays clear of it
    config: TeamsConfig

    def target_identity(self) -> tuple[str, ...]:
        return (secret_identity(self.config.webhook_url_env),)

    def payload(self, notification: Notification) -> dict[str, object]:
        summary = digest(notification)
        shown = list(summary.alerts)
        while True:
            body: list[dict[str, object]] = [
                {"type": "TextBlock", "text": summary.headline, "weight": "Bolder", "size": "Medium", "wrap": True,
                 "style": "heading", "color": STATUS_COLOURS[summary.status]},
                *(_alert_container(alert) for alert in shown),
            ]
            hidden = len(summary.alerts) - len(shown)
            if hidden:
                body.append({"type": "TextBlock", "text": f"…and {hidden} more alerts", "wrap": True})
            body.append({"type": "TextBlock", "text": footer(notification), "isSubtle": True, "size": "Small",
                         "wrap": True})
            message = {"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": CARD_VERSION, "msteams": {"width": "Full"}, "body": body},
            }]}
            if len(json_body(message)) <= MAX_MESSAGE_BYTES or not shown:
                return message
            shown = shown[: max(0, min(len(shown) - 1, len(shown) // 2 + 1))]

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        return HttpRequest(secret(self.config.webhook_url_env), json_body(self.payload(notification)), JSON_HEADERS)
