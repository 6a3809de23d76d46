"""Everything the ops service and the reports need from the alert engine's tables, behind one set of functions.

Contract (what callers rely on; implement it against the engine's tables, keep the signatures):

- Reads never raise because alerting is absent: with no engine tables they return empty results (an empty list,
  zero counts, ``None`` for "no such alert"), and the status page says "no active alerts" rather than inventing any.
- Times are aware UTC datetimes; durations are seconds (float).
- ``severity`` is one of ``alerting.model.SEVERITIES``; ``state`` one of ``alerting.model.ALERT_STATES``.
- Writes (``acknowledge_alert``, ``create_silence``, ``expire_silence``) take the caller's ``Connection`` so that
  they commit together with the ops service's own bookkeeping (a used acknowledgement link is consumed only if
  the acknowledgement was recorded). They answer ``UNAVAILABLE`` / ``None`` while the engine's tables are absent.
- Acknowledging through the engine must have the engine's effects (stop reminders and escalations, notify the
  receivers of the acknowledgement through the outbox) — call the engine's lifecycle function, not a bare UPDATE.

Until the alert engine (issue 11) lands, the alert tables do not exist: ``alerts_available`` is False and every
function below returns its empty answer. Delivery figures (``alert_delivery_log``, ``alert_outbox``) exist
already and live in ``delivery_reads``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Engine, inspect

from monitoring_pipeline.alerting.model import SEVERITIES

# The engine's table of alerts (issue 11 names it; adjust here when it differs).
ALERTS_TABLE = "alerts"

AckOutcome = Literal["acknowledged", "already_acknowledged", "resolved", "not_found", "unavailable"]
UNAVAILABLE: AckOutcome = "unavailable"


@dataclass(frozen=True)
class AlertView:
    """One alert as the status page and the API show it."""

    id: int
    rule: str
    severity: str
    state: str
    summary: str
    source: str
    labels: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One event in an alert's life: fired, notified (receiver), acknowledged (by), reminded, escalated, resolved."""

    at: datetime
    event: str
    detail: str = ""


@dataclass(frozen=True)
class AlertStatistics:
    """Alerts over a period [start, end)."""

    fired: int = 0
    acknowledged: int = 0
    resolved: int = 0
    by_severity: Mapping[str, int] = field(default_factory=dict)
    median_time_to_acknowledge_seconds: float | None = None
    median_time_to_resolve_seconds: float | None = None
    p90_time_to_resolve_seconds: float | None = None


@dataclass(frozen=True)
class RuleNoise:
    rule: str
    fired: int
    severity: str


@dataclass(frozen=True)
class SilenceView:
    id: int
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


def alerts_available(engine: Engine) -> bool:
    """Whether the alert engine's tables exist in this database."""
    return inspect(engine).has_table(ALERTS_TABLE)


def active_alerts(engine: Engine, limit: int = 200) -> list[AlertView]:
    """Alerts not resolved (pending, firing, acknowledged), most severe then newest first, at most ``limit``."""
    return []


def firing_by_severity(engine: Engine) -> dict[str, int]:
    """Alerts firing now (not acknowledged, not resolved) per severity; every severity present, 0 when none."""
    return {severity: 0 for severity in SEVERITIES}


def alerts_total(engine: Engine) -> dict[str, int]:
    """Alerts ever fired per severity (a counter for /metrics: it never decreases); every severity present."""
    return {severity: 0 for severity in SEVERITIES}


def alert(engine: Engine, alert_id: int) -> AlertView | None:
    """One alert, or None when there is no such alert."""
    return None


def alert_timeline(engine: Engine, alert_id: int) -> list[TimelineEntry] | None:
    """The alert's history oldest first (transitions, notifications sent, acknowledgement), None if no such alert."""
    return None


def alert_statistics(engine: Engine, start: datetime, end: datetime) -> AlertStatistics:
    """Alerts that fired in [start, end): counts, per severity, and the median times to acknowledge and resolve."""
    return AlertStatistics(by_severity={severity: 0 for severity in SEVERITIES})


def noisiest_rules(engine: Engine, start: datetime, end: datetime, limit: int = 5) -> list[RuleNoise]:
    """The rules that fired most in [start, end), most first."""
    return []


def acknowledge_alert(connection: Connection, alert_id: int, by: str, comment: str, at: datetime) -> AckOutcome:
    """Acknowledge ``alert_id`` in the caller's transaction through the engine's lifecycle (reminders and escalations
    stop, receivers are told): ``acknowledged``, or why not."""
    return UNAVAILABLE


def silences(engine: Engine, include_expired: bool = False) -> list[SilenceView]:
    """Silences active now (and expired ones when asked), newest first."""
    return []


def create_silence(connection: Connection, matchers: Mapping[str, str], starts_at: datetime, ends_at: datetime,
                   created_by: str, comment: str) -> SilenceView | None:
    """Create a silence (label equality matchers); None while the engine's tables are absent."""
    return None


def expire_silence(connection: Connection, silence_id: int, by: str, at: datetime) -> bool | None:
    """End a silence now: True, False when there is no such active silence, None while alerting is absent."""
    return None
