"""The ops file (``config/ops.yaml``, or ``OPS_CONFIG``): who may read the ops service, the inbound webhook sources,
one-click acknowledgement, readiness thresholds, and the daily and weekly reports.

Every section is optional; a missing file means every default (a public status page, no webhook source, no
e-mail). Secrets are never in the file, only the names of the environment variables that hold them (``*_env``);
they are read when used (``settings.read_secret``), so a rotated secret needs no restart of the file's reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from monitoring_pipeline.config_errors import (
    KNOWN_KEY,
    ConfigFileError,
    describe,
    environment_variable_name,
    expected,
    first_problem,
    matching,
)
from monitoring_pipeline.env_references import substitute
from monitoring_pipeline.integrations.config import Duration

SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SOURCE_NAME_EXPECTED = "a source name of 1-64 lower-case letters, digits, '_' or '-' (it is the URL's last part)"
EMAIL_EXPECTED = "an e-mail address such as ops@example.com"


class OpsConfigError(ConfigFileError):
    """The ops file cannot be used: names the file, the field and what is expected."""


EnvName = Annotated[StrictStr, environment_variable_name("OPS_API_TOKEN")]
Email = Annotated[StrictStr, matching(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", EMAIL_EXPECTED)]


def _hh_mm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise expected("a time of day as HH:MM (24 h), e.g. 08:00")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(_Model):
    """Access to `monitoring-pipeline serve`."""

    # public: anyone who reaches the port reads the status page and the read API; token: reads need the token too.
    access: Literal["public", "token"] = "public"
    # Bearer token for every write (forced probe, acknowledge, silences) and, with access: token, for reads.
    token_env: EnvName = "OPS_API_TOKEN"
    # The address people reach the service at: links in e-mails (acknowledge, report) start with it.
    public_url: StrictStr | None = None
    title: StrictStr = "Service status"


class ReadinessConfig(_Model):
    """What /health/ready calls stale (the sensors write the project database; the service reads when they did)."""

    landing_max_age: Duration = 600.0  # the D&B landing sensor's last pull attempt
    probe_max_age: Duration = 300.0  # the integration probe sensor's last probe
    outbox_max_pending: int = Field(default=1000, ge=1)  # notifications waiting for delivery
    outbox_max_age: Duration = 900.0  # the oldest notification due and not delivered


class AcknowledgementConfig(_Model):
    """One-click acknowledgement links in notifications (HMAC-signed, expiring, single-use)."""

    signing_key_env: EnvName = "OPS_ACK_SIGNING_KEY"
    ttl: Duration = Field(default=7 * 86400.0, gt=0)


class TokenAuth(_Model):
    """A shared secret sent as ``?token=``, ``Authorization: Bearer`` or a header (Statuspage has no signature)."""

    type: Literal["token"]
    token_env: EnvName
    header: StrictStr = "X-Webhook-Token"


class HmacAuth(_Model):
    """An HMAC-SHA256 signature of the raw body in a header, as hex (``sha256=`` prefix optional)."""

    type: Literal["hmac"]
    secret_env: EnvName
    header: StrictStr = "X-Signature-256"


class WebhookSource(_Model):
    """One inbound webhook source: ``POST /webhooks/<name>``."""

    type: Literal["statuspage", "generic"]
    auth: Annotated[TokenAuth | HmacAuth, Field(discriminator="type")]
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    description: StrictStr = ""


class SmtpConfig(_Model):
    """The SMTP server reports are sent through."""

    host: StrictStr
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: StrictStr | None = None
    password_env: EnvName | None = None
    sender: Email
    timeout: Duration = 30.0
    ca_file: Path | None = None  # a private CA for the server's certificate (default: the system's)


class ReportsConfig(_Model):
    """The daily and weekly reports."""

    daily_at: Annotated[StrictStr, AfterValidator(_hh_mm)] = "08:00"
    weekly_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    timezone: Literal["UTC"] = "UTC"  # partitions are UTC days, like every daily asset of the project
    recipients: tuple[Email, ...] = ()
    weekly_recipients: tuple[Email, ...] | None = None  # default: recipients
    subject_prefix: StrictStr = "[monitoring]"
    # The alerting file's receiver whose e-mail channel sends the reports (its server, login and sender) ...
    email_receiver: StrictStr | None = None
    smtp: SmtpConfig | None = None  # ... or an SMTP server of their own (one of the two)
    noisy_rules: int = Field(default=5, ge=1, le=50)  # rows in the noisiest-rules table

    @model_validator(mode="after")
    def _one_way_to_send(self) -> ReportsConfig:
        if self.email_receiver is not None and self.smtp is not None:
            raise expected("either email_receiver (an alerting receiver with an e-mail channel) or smtp, not both",
                           "both", field="email_receiver")
        return self


class OpsConfig(_Model):
    service: ServiceConfig = ServiceConfig()
    readiness: ReadinessConfig = ReadinessConfig()
    acknowledgement: AcknowledgementConfig = AcknowledgementConfig()
    webhooks: dict[StrictStr, WebhookSource] = Field(default_factory=dict)
    reports: ReportsConfig = ReportsConfig()


def load_ops_config(path: Path | None, environ: Mapping[str, str] | None = None) -> OpsConfig:
    """Read and validate the ops file (None: all defaults); ``OpsConfigError`` for the first problem found.
    ``${VAR}`` and ``${VAR:-default}`` in its strings are read from ``environ`` (the process environment)."""
    if path is None:
        return OpsConfig()
    path = Path(path)
    if not path.is_file():
        raise OpsConfigError(path, None, "an ops YAML file (set OPS_CONFIG)", "a path that does not exist")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise OpsConfigError(path, f"line {mark.line + 1}" if mark else None, "valid YAML",
                             str(getattr(error, "problem", error))) from None
    except UnicodeDecodeError:
        raise OpsConfigError(path, None, "UTF-8 text", "undecodable bytes") from None
    if not isinstance(raw, Mapping):
        raise OpsConfigError(path, None, "a mapping with service, readiness, acknowledgement, webhooks, reports",
                             describe(raw))
    raw = substitute(raw, os.environ if environ is None else environ, lambda at, name: OpsConfigError(
        path, at or None, f"environment variable {name} to be set (or write ${{{name}:-default}})", "unset"))
    try:
        config = OpsConfig.model_validate(raw)
    except ValidationError as error:
        field, form, got = first_problem(error, model=OpsConfig)
        if form == KNOWN_KEY:
            form += " (config/ops.example.yaml shows every field)"
        raise OpsConfigError(path, field, form, got) from None
    for name in config.webhooks:
        if not re.fullmatch(SOURCE_NAME_PATTERN, name):
            raise OpsConfigError(path, f"webhooks.{name}", SOURCE_NAME_EXPECTED, repr(name))
    return config
