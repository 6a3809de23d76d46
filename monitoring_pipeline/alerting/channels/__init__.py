"""Channels: one module per kind of destination, each building its exact payload from an alert group and judging
the remote's answer (delivered, retry, permanent failure). Plain Python; the delivery step drives them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from monitoring_pipeline.alerting.channels.alertmanager import AlertmanagerConfig
from monitoring_pipeline.alerting.channels.base import Channel, ChannelConfig, SendContext, SendResult
from monitoring_pipeline.alerting.channels.discord import DiscordConfig
from monitoring_pipeline.alerting.channels.email import EmailConfig
from monitoring_pipeline.alerting.channels.pagerduty import PagerDutyConfig
from monitoring_pipeline.alerting.channels.slack import SlackConfig
from monitoring_pipeline.alerting.channels.teams import TeamsConfig
from monitoring_pipeline.alerting.channels.twilio_sms import TwilioSmsConfig
from monitoring_pipeline.alerting.channels.webhook import WebhookConfig

CHANNEL_CONFIGS: tuple[type[ChannelConfig], ...] = (
    EmailConfig, SlackConfig, DiscordConfig, TeamsConfig, PagerDutyConfig, TwilioSmsConfig, WebhookConfig,
    AlertmanagerConfig,
)
CHANNEL_TYPES = ("email", "slack", "discord", "teams", "pagerduty", "twilio_sms", "webhook", "alertmanager")

AnyChannelConfig = Annotated[
    EmailConfig | SlackConfig | DiscordConfig | TeamsConfig | PagerDutyConfig | TwilioSmsConfig | WebhookConfig
    | AlertmanagerConfig,
    Field(discriminator="type"),
]

__all__ = ["CHANNEL_CONFIGS", "CHANNEL_TYPES", "AnyChannelConfig", "Channel", "ChannelConfig", "SendContext",
           "SendResult"]
