"""Discord webhook: ``content`` (the headline) and one embed per alert, coloured by severity, within Discord's
limits (content 2,000; 10 embeds; title 256; description 4,096; 25 fields of 256/1,024; 6,000 characters over all
embeds). ``?wait=true`` makes Discord answer 200 once the message is posted. 429 carries ``retry_after``; the
``X-RateLimit-Remaining``/``X-RateLimit-Reset-After`` headers pace the next message."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field

from monitoring_pipeline.alerting.channels.base import (
    JSON_HEADERS,
    ChannelConfig,
    EnvName,
    HttpChannel,
    HttpRequest,
    SendContext,
    SendResult,
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
    truncate,
)
from monitoring_pipeline.alerting.model import Alert, Notification

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
CONTENT_LIMIT = 2000
MAX_EMBEDS = 10
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
MAX_FIELDS = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBEDS_TOTAL_LIMIT = 6000
COLOURS = {"critical": 0x992D22, "error": 0xE74C3C, "warning": 0xF1C40F, "info": 0x3498DB}
RESOLVED_COLOUR = 0x2ECC71
ACKNOWLEDGED_COLOUR = 0x95A5A6


class DiscordConfig(ChannelConfig):
    """Discord webhook (the webhook URL is a secret: named by environment variable)."""

    type: Literal["discord"]
    webhook_url_env: EnvName
    username: str | None = Field(None, min_length=1, max_length=80)
    avatar_url: str | None = Field(None, pattern=r"^https?://")

    def build(self) -> DiscordChannel:
        return DiscordChannel(self)


def colour(alert: Alert) -> int:
    if alert.state == "resolved":
        return RESOLVED_COLOUR
    if alert.state == "acknowledged":
        return ACKNOWLEDGED_COLOUR
    return COLOURS.get(alert.severity, COLOURS["info"])


def _embed_size(embed: Mapping[str, object]) -> int:
    fields = embed.get("fields") or []
    return (len(str(embed.get("title", ""))) + len(str(embed.get("description", "")))
            + sum(len(f["name"]) + len(f["value"]) for f in fields)  # type: ignore[index, union-attr]
            + len(str((embed.get("footer") or {}).get("text", ""))))  # type: ignore[union-attr]


class DiscordChannel(HttpChannel):
    type = "discord"
    default_rate_per_second = 0.5  # webhooks allow about 30 messages a minute; the headers tell the rest
    config: DiscordConfig
    success_statuses = frozenset({200, 204})

    def target_identity(self) -> tuple[str, ...]:
        return (secret_identity(self.config.webhook_url_env),)

    def embed(self, alert: Alert) -> dict[str, object]:
        text = state_line(alert)
        if description(alert):
            text += "\n" + description(alert)
        links = " · ".join(f"[{title}]({url})" for title, url in alert_links(alert))
        if links:
            text += "\n" + links
        fields = [{"name": "severity", "value": alert.severity, "inline": True}]
        fields += [{"name": truncate(k, FIELD_NAME_LIMIT), "value": truncate(v or "-", FIELD_VALUE_LIMIT),
                    "inline": True} for k, v in shown_labels(alert).items()]
        embed: dict[str, object] = {"title": truncate(alert.summary, TITLE_LIMIT),
                                    "description": truncate(text, DESCRIPTION_LIMIT), "color": colour(alert),
                                    "fields": fields[:MAX_FIELDS], "timestamp": alert.starts_at.isoformat()}
        if alert.links.get("alert"):
            embed["url"] = alert.links["alert"]
        return embed

    def payload(self, notification: Notification) -> dict[str, object]:
        summary = digest(notification)
        embeds: list[dict[str, object]] = []
        budget = EMBEDS_TOTAL_LIMIT - len(footer(notification))
        for alert in summary.alerts:
            embed = self.embed(alert)
            if len(embeds) == MAX_EMBEDS - 1 and len(summary.alerts) > MAX_EMBEDS:
                break
            if _embed_size(embed) > budget:
                break
            budget -= _embed_size(embed)
            embeds.append(embed)
        content = summary.headline
        hidden = len(summary.alerts) - len(embeds)
        if hidden:
            content += f"\n…and {hidden} more alerts"
        if embeds:
            embeds[-1]["footer"] = {"text": truncate(footer(notification), FOOTER_LIMIT)}
        payload: dict[str, object] = {"content": truncate(content, CONTENT_LIMIT), "embeds": embeds,
                                      "allowed_mentions": {"parse": []}}  # an alert never pings @everyone
        if self.config.username:
            payload["username"] = self.config.username
        if self.config.avatar_url:
            payload["avatar_url"] = self.config.avatar_url
        return payload

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        url = urlsplit(secret(self.config.webhook_url_env))
        query = urlencode([*((k, v) for k, v in parse_qsl(url.query) if k != "wait"), ("wait", "true")])
        return HttpRequest(urlunsplit(url._replace(query=query)), json_body(self.payload(notification)), JSON_HEADERS)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
        result = super().classify(status, headers, body)
        pause = None
        if headers.get("x-ratelimit-remaining") == "0":
            pause = _seconds(headers.get("x-ratelimit-reset-after"))
        retry_after = result.retry_after
        if status == 429:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                retry_after = float(json.loads(body).get("retry_after")) or retry_after
        return SendResult(result.outcome, status, result.detail, retry_after, pause)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
