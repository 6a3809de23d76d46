"""Slack incoming webhook: a ``text`` fallback and Block Kit blocks (a header, a section with fields per alert,
links, a context line), within Slack's limits. Success is 200 ``ok``; 400/403/404/410 are permanent (invalid
payload, invalid token, channel_not_found, channel_is_archived); 429 honours Retry-After; 5xx is retried."""

from __future__ import annotations

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
from monitoring_pipeline.alerting.channels.rendering import (
    alert_links,
    description,
    digest,
    footer,
    shown_labels,
    state_line,
    truncate,
)
from monitoring_pipeline.alerting.model import Notification

# https://api.slack.com/reference/block-kit: at most 50 blocks; header text 150; section text 3,000; 10 fields of
# 2,000; context 10 elements; the top-level text is shown in notifications and truncated by Slack past 40,000
# (we keep it to a line).
MAX_BLOCKS = 50
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELDS_PER_SECTION = 10
FIELD_LIMIT = 2000
TEXT_LIMIT = 3000
SEVERITY_MARKS = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:",
                  "info": ":large_blue_circle:"}
STATE_MARKS = {"resolved": ":white_check_mark:", "acknowledged": ":eyes:"}


class SlackConfig(ChannelConfig):
    """Slack incoming webhook (the webhook URL is a secret: named by environment variable)."""

    type: Literal["slack"]
    webhook_url_env: EnvName
    # Legacy webhooks honour these; webhooks of Slack apps post where they were installed and ignore them.
    channel: str | None = Field(None, min_length=1, max_length=80)
    username: str | None = Field(None, min_length=1, max_length=80)
    icon_emoji: str | None = Field(None, pattern=r"^:[a-z0-9_+-]+:$")
    max_alerts: int = Field(20, ge=1, le=45)  # alerts shown in full; the rest are counted

    def build(self) -> SlackChannel:
        return SlackChannel(self)


def escape(text: str) -> str:
    """Slack mrkdwn's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(HttpChannel):
    type = "slack"
    default_rate_per_second = 1.0  # "1 message per second per webhook, short bursts allowed"
    config: SlackConfig
    success_statuses = frozenset({200})  # with body "ok"; errors come as 400/403/404/410 with a code as body

    def target_identity(self) -> tuple[str, ...]:
        return (secret_identity(self.config.webhook_url_env),)

    def payload(self, notification: Notification) -> dict[str, object]:
        summary = digest(notification)
        blocks: list[dict[str, object]] = [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(summary.headline, HEADER_LIMIT),
                                        "emoji": True}},
        ]
        shown = summary.alerts[: self.config.max_alerts]
        for alert in shown:
            mark = STATE_MARKS.get(alert.state) or SEVERITY_MARKS.get(alert.severity, "")
            text = f"{mark} *{escape(alert.summary)}*\n_{escape(state_line(alert))}_"
            if description(alert):
                text += "\n" + escape(description(alert))
            links = " · ".join(f"<{url}|{title}>" for title, url in alert_links(alert))
            if links:
                text += "\n" + links
            fields = [{"type": "mrkdwn", "text": f"*severity*\n{alert.severity}"}]
            fields += [{"type": "mrkdwn", "text": truncate(f"*{escape(k)}*\n{escape(v)}", FIELD_LIMIT)}
                       for k, v in shown_labels(alert).items()]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)},
                           "fields": fields[:FIELDS_PER_SECTION]})
        hidden = len(summary.alerts) - len(shown)
        if hidden:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"…and {hidden} more alerts"}})
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer(notification))}]})
        payload: dict[str, object] = {"text": truncate(summary.headline, TEXT_LIMIT), "blocks": blocks[:MAX_BLOCKS]}
        for key in ("channel", "username", "icon_emoji"):
            value = getattr(self.config, key)
            if value:
                payload[key] = value
        return payload

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        return HttpRequest(secret(self.config.webhook_url_env), json_body(self.payload(notification)), JSON_HEADERS)
