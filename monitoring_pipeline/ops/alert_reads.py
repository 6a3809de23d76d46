"""What the ops service and the reports need from the alert engine: a thin adapter over the engine's own reads and
actions (``alerting.queries``, ``alerting.actions``, ``alerting.silences``), so that no alert SQL lives here.

- Reads never raise because alerting is absent (a database migrated before the engine's tables): they return empty
  results (an empty list, zero counts, ``None`` for "no such alert").
- Times are aware UTC datetimes; durations are seconds (float).
- Writes (``acknowledge_alert``, ``create_silence``, ``expire_silence``) take the caller's ``Connection``, so they
  commit together with the ops service's own bookkeeping (a used acknowledgement link is consumed only if the
  acknowledgement was recorded), and go through the engine: acknowledging stops reminders and escalation and
  queues the acknowledgement notices in the outbox in that same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Engine, inspect

from monitoring_pipeline.alerting import actions, queries, store
from monitoring_pipeline.alerting import silences as engine_silences
from monitoring_pipeline.alerting.config import AlertingConfig
from monitoring_pipeline.alerting.dispatch import LinkBuilder
from monitoring_pipeline.alerting.matchers import Matcher
from monitoring_pipeline.alerting.model import SEVERITIES
from monitoring_pipeline.alerting.queries import AlertStatistics, RuleNoise, TimelineEntry
from monitoring_pipeline.alerting.silences import SilenceError, SilenceRecord
from monitoring_pipeline.storage.schema import alerts as alerts_table

ALERTS_TABLE = alerts_table.name

AckOutcome = Literal["acknowledged", "already_acknowledged", "resolved", "pending", "not_found", "unavailable"]
UNAVAILABLE: AckOutcome = "unavailable"
SilenceView = SilenceRecord

__all__ = ["AlertStatistics", "AlertView", "RuleNoise", "SilenceError", "SilenceView", "TimelineEntry"]


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
    starts_at: datetime  # when it fired (pending: since its condition held)
    since: datetime  # when its condition began to hold (a DOWN since 20 minutes fired a moment ago: 20 minutes)
    ends_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    description: str = ""
    muted_by: str | None = None  # the silence or inhibition keeping it quiet

    @classmethod
    def of(cls, row: store.AlertRow) -> AlertView:
        return cls(id=row.id, rule=row.rule, severity=row.severity, state=row.state,
                   summary=row.annotations.get("summary") or row.rule, source=row.source, labels=dict(row.labels),
                   starts_at=row.fired_at or row.active_since, since=row.active_since, ends_at=row.resolved_at,
                   acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
                   description=row.annotations.get("description", ""),
                   muted_by=row.muted_by if row.muted else None)


_AVAILABLE: set[str] = set()  # databases (by URL) known to have the tables: they are never dropped


def alerts_available(engine: Engine) -> bool:
    """Whether the alert engine's tables exist in this database."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _AVAILABLE:
        return True
    if inspect(engine).has_table(ALERTS_TABLE):
        _AVAILABLE.add(key)
        return True
    return False


def active_alerts(engine: Engine, limit: int = 200) -> list[AlertView]:
    """Alerts not resolved (pending, firing, acknowledged), most severe then newest first, at most ``limit``."""
    if not alerts_available(engine):
        return []
    with engine.connect() as connection:
        return [AlertView.of(row) for row in queries.list_alerts(connection, "open", limit)]


def firing_by_severity(engine: Engine) -> dict[str, int]:
    """Alerts firing now (not acknowledged, resolved or muted) per severity; every severity present."""
    if not alerts_available(engine):
        return dict.fromkeys(SEVERITIES, 0)
    return queries.firing_by_severity(engine)


def alerts_total(engine: Engine) -> dict[str, int]:
    """Alerts ever fired per severity (a counter for /metrics: it never decreases); every severity present."""
    if not alerts_available(engine):
        return dict.fromkeys(SEVERITIES, 0)
    return queries.alerts_total(engine)


def alert(engine: Engine, alert_id: int) -> AlertView | None:
    """One alert, or None when there is no such alert."""
    if not alerts_available(engine):
        return None
    with engine.connect() as connection:
        row = store.alert_by_id(connection, alert_id)
    return AlertView.of(row) if row is not None else None


def alert_timeline(engine: Engine, alert_id: int) -> list[TimelineEntry] | None:
    """The alert's history oldest first (transitions, notifications decided, acknowledgement with who), None if no
    such alert."""
    if not alerts_available(engine):
        return None
    with engine.connect() as connection:
        return queries.timeline(connection, alert_id)


def alert_statistics(engine: Engine, start: datetime, end: datetime, noisiest: int = 5) -> AlertStatistics:
    """Alerts that fired in [start, end): counts per severity and rule, time to acknowledge and resolve (p50, p95),
    notifications delivered and failed, the noisiest rules."""
    if not alerts_available(engine):
        return AlertStatistics(by_severity=dict.fromkeys(SEVERITIES, 0))
    with engine.connect() as connection:
        return queries.statistics(connection, start, end, noisiest)


def noisiest_rules(engine: Engine, start: datetime, end: datetime, limit: int = 5) -> list[RuleNoise]:
    """The rules that fired most in [start, end), most first."""
    return list(alert_statistics(engine, start, end, limit).noisiest)


def acknowledge_alert(connection: Connection, alert_id: int, by: str, comment: str, at: datetime, *,
                      config: AlertingConfig | None = None, links: LinkBuilder | None = None) -> AckOutcome:
    """Acknowledge ``alert_id`` in the caller's transaction through the engine (reminders and escalations stop,
    receivers are told through the outbox): ``acknowledged``, or why not. ``config``: the alerting file (event
    rules resolve on acknowledgement unless it says otherwise); ``links``: links for the notices."""
    if not inspect(connection).has_table(ALERTS_TABLE):
        return UNAVAILABLE
    return actions.acknowledge(connection, alert_id, by, comment, at, config=config, links=links)


def silences(engine: Engine, now: datetime, include_expired: bool = False) -> list[SilenceView]:
    """Silences in force or to come (and expired ones when asked), newest first."""
    if not alerts_available(engine):
        return []
    with engine.connect() as connection:
        return engine_silences.list_silences(connection, now, include_expired)


def create_silence(connection: Connection, matchers: Mapping[str, str], starts_at: datetime, ends_at: datetime,
                   created_by: str, comment: str) -> SilenceView | None:
    """Silence alerts whose labels equal ``matchers``; None while the engine's tables are absent; ``SilenceError``
    saying why a silence cannot be made."""
    if not inspect(connection).has_table(ALERTS_TABLE):
        return None
    return engine_silences.create_silence(connection, [Matcher.create(k, "=", v) for k, v in matchers.items()],
                                          starts_at, ends_at, created_by, comment, starts_at)


def expire_silence(connection: Connection, silence_id: int, by: str, at: datetime) -> bool | None:
    """End a silence now: True, False when there is no such silence in force or to come, None while alerting is
    absent."""
    if not inspect(connection).has_table(ALERTS_TABLE):
        return None
    return engine_silences.expire_silence(connection, silence_id, by, at)
