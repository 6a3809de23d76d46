"""Reads of the alert engine's tables for people and other parts of the project: the CLI, the ops service, the
daily history asset and the reports. Nothing here writes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.model import SEVERITIES
from monitoring_pipeline.alerting.store import OPEN_STATES, AlertRow
from monitoring_pipeline.integrations.sla import percentile
from monitoring_pipeline.storage.schema import (
    alert_delivery_log,
    alert_events,
    alert_group_members,
    alert_groups,
    alert_receiver_status,
    alerts,
)

STATE_FILTERS = ("open", "pending", "firing", "acknowledged", "resolved", "silenced", "inhibited", "all")


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event: str
    detail: str
    actor: str | None = None


@dataclass(frozen=True)
class AlertDetail:
    alert: AlertRow
    timeline: list[TimelineEntry]
    groups: list[dict[str, Any]]  # the groups it is in: labels, route, receivers told, escalation


def list_alerts(connection: Connection, state: str = "open", limit: int = 200,
                severity: str | None = None) -> list[AlertRow]:
    """Alerts by state (see STATE_FILTERS; ``open`` = not resolved), most severe then newest first."""
    table = alerts.c
    query = select(alerts)
    if state == "open":
        query = query.where(table.state.in_(OPEN_STATES))
    elif state in ("silenced", "inhibited"):
        query = query.where(table.state.in_(OPEN_STATES), getattr(table, state).is_(True))
    elif state != "all":
        query = query.where(table.state == state)
    if severity:
        query = query.where(table.severity == severity)
    rows = [store._from_row(row) for row in connection.execute(query.order_by(table.id.desc()).limit(limit * 4))]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    rows.sort(key=lambda r: (rank.get(r.severity, 9), -(r.fired_at or r.active_since).timestamp(), -r.id))
    return rows[:limit]


def alert_detail(connection: Connection, alert_id: int) -> AlertDetail | None:
    row = store.alert_by_id(connection, alert_id)
    if row is None:
        return None
    events = connection.execute(select(alert_events).where(alert_events.c.alert_id == alert_id)
                                .order_by(alert_events.c.id)).all()
    timeline = [TimelineEntry(e.at, e.event, e.detail, e.actor) for e in events]
    groups = []
    for group in connection.execute(
            select(alert_groups).join(alert_group_members, alert_group_members.c.group_key == alert_groups.c.group_key)
            .where(alert_group_members.c.alert_id == alert_id)):
        groups.append({"group_key": group.group_key, "route": group.route, "labels": json.loads(group.group_labels),
                       "told": json.loads(group.told), "escalation": group.escalation_state,
                       "escalation_level": group.escalation_level, "next_flush_at": group.next_flush_at})
    return AlertDetail(row, timeline, groups)


def timeline(connection: Connection, alert_id: int) -> list[TimelineEntry] | None:
    detail = alert_detail(connection, alert_id)
    return detail.timeline if detail else None


def firing_by_severity(engine: Engine) -> dict[str, int]:
    """Alerts firing now (not acknowledged, not resolved, not muted) per severity; every severity present."""
    counts = {severity: 0 for severity in SEVERITIES}
    table = alerts.c
    with engine.connect() as connection:
        for severity, count in connection.execute(
                select(table.severity, func.count()).where(table.state == store.FIRING, table.silenced.is_(False),
                                                           table.inhibited.is_(False)).group_by(table.severity)):
            counts[severity] = counts.get(severity, 0) + count
    return counts


def alerts_total(engine: Engine) -> dict[str, int]:
    """Alerts that ever fired, per severity (a counter: never decreases); every severity present."""
    counts = {severity: 0 for severity in SEVERITIES}
    table = alerts.c
    with engine.connect() as connection:
        for severity, count in connection.execute(select(table.severity, func.count())
                                                  .where(table.fired_at.is_not(None)).group_by(table.severity)):
            counts[severity] = counts.get(severity, 0) + count
    return counts


def open_label_values(connection: Connection, source: str, label: str) -> set[str]:
    """The values of ``label`` among open alerts of ``source`` (e.g. the jobs with a failed-run alert)."""
    rows = connection.execute(select(alerts.c.labels).where(alerts.c.source == source,
                                                            alerts.c.state.in_(OPEN_STATES)))
    return {value for (labels,) in rows if (value := json.loads(labels).get(label))}


@dataclass(frozen=True)
class RuleNoise:
    rule: str
    fired: int
    severity: str


@dataclass(frozen=True)
class AlertStatistics:
    """Alerts that fired in [start, end) and what happened to them; notifications attempted in the period."""

    fired: int = 0
    acknowledged: int = 0
    resolved: int = 0
    by_severity: Mapping[str, int] = field(default_factory=dict)
    by_rule: Mapping[str, int] = field(default_factory=dict)
    time_to_acknowledge_p50: float | None = None  # seconds
    time_to_acknowledge_p95: float | None = None
    time_to_resolve_p50: float | None = None
    time_to_resolve_p95: float | None = None
    notifications_sent: int = 0
    notifications_failed: int = 0
    noisiest: tuple[RuleNoise, ...] = ()


def statistics(connection: Connection, start: datetime, end: datetime, noisiest: int = 5) -> AlertStatistics:
    table = alerts.c
    rows = connection.execute(
        select(table.rule, table.severity, table.fired_at, table.acknowledged_at, table.resolved_at)
        .where(table.fired_at >= start, table.fired_at < end)).all()
    by_severity = Counter(row.severity for row in rows)
    by_rule = Counter(row.rule for row in rows)
    severity_of = {row.rule: row.severity for row in rows}
    to_ack = [(row.acknowledged_at - row.fired_at).total_seconds() for row in rows if row.acknowledged_at]
    to_resolve = [(row.resolved_at - row.fired_at).total_seconds() for row in rows if row.resolved_at]
    log = alert_delivery_log.c
    outcomes = dict(connection.execute(
        select(log.outcome, func.count())
        .where(log.attempted_at >= start, log.attempted_at < end, log.kind != "resend")  # not a new notification
        .group_by(log.outcome)).all())
    return AlertStatistics(
        fired=len(rows),
        acknowledged=len(to_ack),
        resolved=len(to_resolve),
        by_severity={severity: by_severity.get(severity, 0) for severity in SEVERITIES},
        by_rule=dict(sorted(by_rule.items())),
        time_to_acknowledge_p50=percentile(to_ack, 50),
        time_to_acknowledge_p95=percentile(to_ack, 95),
        time_to_resolve_p50=percentile(to_resolve, 50),
        time_to_resolve_p95=percentile(to_resolve, 95),
        notifications_sent=int(outcomes.get("delivered", 0)),
        notifications_failed=int(outcomes.get("failed", 0)),
        noisiest=tuple(RuleNoise(rule, count, severity_of[rule])
                       for rule, count in sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))[:noisiest]),
    )


def broken_receivers(connection: Connection) -> dict[str, str]:
    """Receiver -> reason, for receivers delivery marked broken."""
    status = alert_receiver_status.c
    return {row.receiver: row.reason or "unknown" for row in connection.execute(
        select(status.receiver, status.reason).where(status.state == "broken"))}


@dataclass(frozen=True)
class EngineHealth:
    last_evaluation_at: datetime | None
    behind_since: datetime | None
    errors: Sequence[str]
    broken_receivers: Mapping[str, str]
    summary: str

    def problems(self, now: datetime, behind_after: float) -> list[str]:
        found = []
        if self.last_evaluation_at is None:
            found.append("the alert engine has not evaluated yet")
        elif (now - self.last_evaluation_at).total_seconds() > behind_after:
            found.append(f"no evaluation for {(now - self.last_evaluation_at).total_seconds():.0f}s "
                         f"(limit {behind_after:g}s)")
        if self.behind_since is not None and (now - self.behind_since).total_seconds() > behind_after:
            found.append(f"evaluations fall behind the sources since {self.behind_since:%Y-%m-%d %H:%M:%S} UTC")
        found += [f"source error: {error}" for error in self.errors]
        found += [f"receiver {name} is broken: {reason}" for name, reason in sorted(self.broken_receivers.items())]
        return found


def engine_health(connection: Connection) -> EngineHealth:
    last = store.load_state(connection, "last_evaluation") or {}
    return EngineHealth(
        last_evaluation_at=datetime.fromisoformat(last["at"]) if last.get("at") else None,
        behind_since=datetime.fromisoformat(last["behind_since"]) if last.get("behind_since") else None,
        errors=tuple(last.get("errors") or ()),
        broken_receivers=broken_receivers(connection),
        summary=last.get("summary", ""),
    )
