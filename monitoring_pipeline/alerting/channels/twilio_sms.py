"""SMS through Twilio's Messages API: a form-encoded ``To``, ``From`` (or ``MessagingServiceSid``) and ``Body``
with HTTP basic auth; the body is cut to 1,600 characters with the most important part first (status, severity,
what, since when, the acknowledge link). 201 is success; Twilio's error codes tell a wrong number or account
(permanent: 21211 invalid ``To``, 21606 invalid ``From``, 21610 unsubscribed, 20003 authentication...) from a
passing problem (429 / 20429, 5xx)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import Field, model_validator

from monitoring_pipeline.alerting.channels.base import (
    USER_AGENT,
    ChannelConfig,
    EnvName,
    HttpChannel,
    HttpRequest,
    SendContext,
    SendResult,
    secret,
)
from monitoring_pipeline.alerting.channels.rendering import digest, labels_text, shown_labels, truncate, when
from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.config_errors import expected

DEFAULT_URL = "https://api.twilio.com"
BODY_LIMIT = 1600
PHONE = r"^\+[1-9][0-9]{6,14}$"  # E.164
RETRYABLE_CODES = frozenset({20429, 30001})  # too many requests; queue overflow


class TwilioSmsConfig(ChannelConfig):
    """An SMS to one number through Twilio (the auth token is a secret: named by environment variable)."""

    type: Literal["twilio_sms"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    # An API key (SK...) authenticates instead of the account SID when given; its secret goes in auth_token_env.
    api_key_sid: str | None = Field(None, pattern=r"^SK[0-9a-fA-F]{32}$")
    auth_token_env: EnvName
    to: str = Field(pattern=PHONE)
    from_: str | None = Field(None, alias="from", pattern=PHONE)
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    url: str = Field(DEFAULT_URL, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")  # the API base URL

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioSmsConfig:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise expected("either from (a phone number) or messaging_service_sid, not both", field="from")
        return self

    def build(self) -> TwilioSmsChannel:
        return TwilioSmsChannel(self)


def sms_body(notification: Notification) -> str:
    """What fits an SMS, most important first: the headline, then each alert's labels and start, then links."""
    summary = digest(notification)
    parts = [summary.headline]
    for alert in summary.alerts:
        labels = labels_text(shown_labels(alert))
        parts.append(f"{alert.summary}" + (f" ({labels})" if labels else "") + f" since {when(alert.starts_at)}")
    first = summary.alerts[0] if summary.alerts else None
    if first is not None and summary.status == "FIRING":
        if first.links.get("acknowledge"):
            parts.insert(1, f"Ack: {first.links['acknowledge']}")
        elif first.links.get("alert"):
            parts.insert(1, f"Alert: {first.links['alert']}")
    return truncate("\n".join(parts), BODY_LIMIT)


class TwilioSmsChannel(HttpChannel):
    type = "twilio_sms"
    default_rate_per_second = 1.0  # a long-code sender sends about one segment a second
    config: TwilioSmsConfig
    success_statuses = frozenset({200, 201})

    def target_identity(self) -> tuple[str, ...]:
        return (self.config.account_sid, self.config.from_ or self.config.messaging_service_sid or "")

    def form(self, notification: Notification) -> list[tuple[str, str]]:
        sender = ([("From", self.config.from_)] if self.config.from_
                  else [("MessagingServiceSid", self.config.messaging_service_sid or "")])
        return [("To", self.config.to), *sender, ("Body", sms_body(notification))]

    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        token = secret(self.config.auth_token_env)
        user = self.config.api_key_sid or self.config.account_sid
        url = (f"{self.config.url.rstrip('/')}/2010-04-01/Accounts/{quote(self.config.account_sid)}/Messages.json")
        return HttpRequest(url, urlencode(self.form(notification)).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
                           auth=(user, token))

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
        result = super().classify(status, headers, body)
        code, message = _twilio_error(body)
        if code is None:
            return result
        detail = f"{status} {code} {message}".strip()
        if code in RETRYABLE_CODES:
            return SendResult("retry", status, detail, result.retry_after)
        return SendResult(result.outcome, status, detail, result.retry_after)


def _twilio_error(body: bytes) -> tuple[int | None, str]:
    try:
        data = json.loads(body)
        return (int(data["code"]), str(data.get("message", ""))) if data.get("code") else (None, "")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, ""
