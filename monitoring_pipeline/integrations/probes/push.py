"""``type: push``: the integration calls us (``/ping/<token>`` on the ops service) and is DOWN when no ping came
within its period (or after its cron time) plus grace. Nothing is called: the probe pass judges the pings
(``integrations/push.py``)."""

from __future__ import annotations

from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StrictStr, model_validator

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.auth import EnvName
from monitoring_pipeline.integrations.config import Duration, IntegrationConfig, Thresholds
from monitoring_pipeline.integrations.durations import format_duration
from monitoring_pipeline.integrations.maintenance import valid_cron


class PushIntegration(IntegrationConfig):
    """A job that pings: UP while its pings arrive on time and report success."""

    type: Literal["push"] = "push"
    token_env: EnvName  # the variable holding this integration's ping token (at least 20 random characters)
    period: Duration | None = Field(default=None, ge=10)  # a ping is expected at least this often ...
    cron: StrictStr | None = None  # ... or at these times (5-field cron, in `timezone`)
    timezone: StrictStr = "UTC"
    grace: Duration = Field(default=300.0, gt=0)  # lateness tolerated, and the longest a started run may take
    interval: Duration = Field(default=30.0, ge=5)  # how often the probe pass judges the pings
    thresholds: Thresholds = Thresholds(failure=1, success=1)  # the grace already absorbs lateness

    FIELDS: ClassVar[tuple[str, ...] | None] = ("last_ping_age_seconds", "duration_seconds", "exit_status",
                                                "message", "pings_in_period")
    KIND: ClassVar[str] = "push"
    NOT_APPLICABLE: ClassVar[tuple[str, ...]] = ("timeout", "retries", "breaker")

    @model_validator(mode="after")
    def _one_schedule(self) -> PushIntegration:
        if (self.period is None) == (self.cron is None):
            raise expected("either period (e.g. 1h) or cron (e.g. '0 2 * * *')", "both" if self.cron else "neither",
                           field="period")
        if self.cron is not None and not valid_cron(self.cron):
            raise expected("a 5-field cron expression such as '0 2 * * *'", repr(self.cron), field="cron")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise expected("an IANA time zone such as Europe/Berlin", repr(self.timezone), field="timezone") from None
        return self

    @property
    def target(self) -> str:
        schedule = (f"every {format_duration(self.period)}" if self.period is not None
                    else f"cron '{self.cron}' {self.timezone}")
        return f"push: {schedule} (+{format_duration(self.grace)} grace)"

    def worst_case_seconds(self) -> float:
        return 0.0  # nothing is called
