"""The alert engine's rows: alerts, their history, groups, silences and the engine's own state.

Every function takes the caller's ``Connection``: the engine writes a whole evaluation (transitions, history events
and outbox rows) in one transaction, and so do acknowledgements and silences. ``lock`` serialises writers of
alert state across processes: it is the first statement of every such transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from monitoring_pipeline.alerting.model import Alert
from monitoring_pipeline.storage.schema import (
    alert_engine_state,
    alert_events,
    alert_group_members,
    alert_groups,
    alerts,
)
from monitoring_pipeline.storage.upsert import upsert

PENDING, FIRING, ACKNOWLEDGED, RESOLVED = "pending", "firing", "acknowledged", "resolved"
OPEN_STATES = (PENDING, FIRING, ACKNOWLEDGED)
LOCK = "lock"
ENGINE_ACTOR = "engine"
_CHUNK = 500


@dataclass
class AlertRow:
    """One alert as stored; the engine changes it in memory and ``save_alerts`` writes what changed."""

    id: int
    fingerprint: str
    rule: str
    source: str
    severity: str
    state: str
    is_event: bool
    labels: dict[str, str]
    annotations: dict[str, str]
    details: dict[str, Any]
    value: float | None
    silenced: bool
    inhibited: bool
    muted_by: str | None
    condition: bool
    active_streak: int
    inactive_streak: int
    event_count: int
    active_since: datetime
    last_observed_at: datetime
    fire_at: datetime | None
    clear_at: datetime | None
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledgement_comment: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    updated_at: datetime
    _saved: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_firing(self) -> bool:
        return self.state in (FIRING, ACKNOWLEDGED)

    @property
    def muted(self) -> bool:
        return self.silenced or self.inhibited

    def as_alert(self, links: Mapping[str, str] | None = None) -> Alert:
        return Alert(
            id=self.id, fingerprint=self.fingerprint, rule=self.rule, state=self.state,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            labels=dict(self.labels), annotations=dict(self.annotations),
            starts_at=self.fired_at or self.active_since, ends_at=self.resolved_at, source=self.source,
            acknowledged_by=self.acknowledged_by, acknowledged_at=self.acknowledged_at,
            acknowledgement_comment=self.acknowledgement_comment, links=dict(links or {}),
        )

    def set_resolved(self, now: datetime, by: str | None) -> None:
        """The alert's own fields on resolution, whoever resolves it (the engine, a person, an acknowledgement):
        its timers stop; what it tells its receivers is the caller's business."""
        self.state = RESOLVED
        self.resolved_at = now
        self.resolved_by = by
        self.fire_at = None
        self.clear_at = None
        self.updated_at = now

    def changes(self) -> dict[str, Any]:
        current = _row_values(self)
        return {name: value for name, value in current.items() if self._saved.get(name) != value}

    def mark_saved(self) -> None:
        self._saved = _row_values(self)


_JSON_COLUMNS = ("labels", "annotations", "details")
_ROW_FIELDS = [f.name for f in fields(AlertRow) if not f.name.startswith("_")]


def _row_values(row: AlertRow) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in _ROW_FIELDS if name != "id"}
    for name in _JSON_COLUMNS:
        values[name] = json.dumps(values[name], sort_keys=True, default=str)
    values["open_fingerprint"] = row.fingerprint if row.is_open else None
    return values


def _from_row(row: Any) -> AlertRow:
    data = {name: getattr(row, name) for name in _ROW_FIELDS}
    saved = {name: value for name, value in data.items() if name != "id"}
    saved["open_fingerprint"] = row.open_fingerprint
    for name in _JSON_COLUMNS:
        data[name] = json.loads(data[name])
    # What is stored is what was saved: no need to serialise it again to notice changes later.
    return AlertRow(**data, _saved=saved)


def lock(connection: Connection, now: datetime) -> None:
    """Take the engine's write lock for the rest of the transaction (a row lock on PostgreSQL; SQLite's write lock
    is taken by the same statement)."""
    updated = connection.execute(update(alert_engine_state).where(alert_engine_state.c.name == LOCK)
                                 .values(updated_at=now)).rowcount
    if not updated:
        upsert(connection, alert_engine_state, [{"name": LOCK, "value": "{}", "updated_at": now}], ("name",))


def load_state(connection: Connection, name: str) -> Any:
    value = connection.execute(select(alert_engine_state.c.value).where(alert_engine_state.c.name == name)
                               ).scalar_one_or_none()
    return json.loads(value) if value is not None else None


def load_states(connection: Connection) -> dict[str, Any]:
    """Every engine state row at once (one query per evaluation)."""
    return {name: json.loads(value) for name, value in connection.execute(
        select(alert_engine_state.c.name, alert_engine_state.c.value))}


def save_state(connection: Connection, name: str, value: Any, now: datetime) -> None:
    text = json.dumps(value, sort_keys=True, default=str)
    # A plain UPDATE first: it is what happens every evaluation, and SQLAlchemy caches its compiled form.
    updated = connection.execute(update(alert_engine_state).where(alert_engine_state.c.name == name)
                                 .values(value=text, updated_at=now)).rowcount
    if not updated:
        upsert(connection, alert_engine_state, [{"name": name, "value": text, "updated_at": now}], ("name",))


def _rows_in(connection: Connection, query: Any, column: Any, keys: Iterable[Any]) -> Iterator[Any]:
    """``query`` restricted to ``column IN keys``, a chunk of keys per statement."""
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), _CHUNK):
        yield from connection.execute(query.where(column.in_(wanted[start:start + _CHUNK])))


def open_alerts_by_fingerprint(connection: Connection, fingerprints: Iterable[str]) -> dict[str, AlertRow]:
    return {row.fingerprint: _from_row(row)
            for row in _rows_in(connection, select(alerts), alerts.c.open_fingerprint, fingerprints)}


def open_alerts(connection: Connection, rules: Sequence[str] | None = None) -> list[AlertRow]:
    query = select(alerts).where(alerts.c.state.in_(OPEN_STATES))
    if rules is not None:
        query = query.where(alerts.c.rule.in_(list(rules)))
    return [_from_row(row) for row in connection.execute(query.order_by(alerts.c.id))]


def alerts_by_id(connection: Connection, ids: Iterable[int]) -> dict[int, AlertRow]:
    return {row.id: _from_row(row) for row in _rows_in(connection, select(alerts), alerts.c.id, ids)}


def alert_by_id(connection: Connection, alert_id: int) -> AlertRow | None:
    return alerts_by_id(connection, [alert_id]).get(alert_id)


def due_alerts(connection: Connection, now: datetime) -> list[AlertRow]:
    """Open alerts with a timer that ran out: pending ones due to fire, and ones due to resolve."""
    query = select(alerts).where(alerts.c.state.in_(OPEN_STATES)).where(
        (alerts.c.fire_at <= now) | (alerts.c.clear_at <= now))
    return [_from_row(row) for row in connection.execute(query.order_by(alerts.c.id))]


def acknowledged_alerts(connection: Connection) -> list[AlertRow]:
    return [_from_row(row) for row in connection.execute(select(alerts).where(alerts.c.state == ACKNOWLEDGED))]


def insert_alerts(connection: Connection, rows: Sequence[AlertRow]) -> None:
    """Insert new alerts in a few statements and give each its id."""
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        ids = connection.execute(insert(alerts).returning(alerts.c.id, sort_by_parameter_order=True),
                                 [_row_values(row) for row in chunk]).scalars().all()
        for row, row_id in zip(chunk, ids, strict=True):
            row.id = int(row_id)
            row.mark_saved()


def save_alerts(connection: Connection, rows: Iterable[AlertRow]) -> int:
    """Write what changed in each row; returns the rows written."""
    written = 0
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        changes = row.changes()
        if not changes:
            continue
        by_columns.setdefault(tuple(sorted(changes)), []).append({"key": row.id, **{f"v_{k}": v for k, v in
                                                                                     changes.items()}})
        row.mark_saved()
        written += 1
    for columns, params in by_columns.items():
        statement = update(alerts).where(alerts.c.id == bindparam("key")).values(
            {name: bindparam(f"v_{name}") for name in columns})
        for start in range(0, len(params), _CHUNK):
            connection.execute(statement, params[start:start + _CHUNK])
    return written


@dataclass(frozen=True)
class MuteRow:
    """What muting needs of an open alert, without its annotations and details."""

    id: int
    labels: dict[str, str]
    source: str
    state: str
    silenced: bool
    inhibited: bool
    muted_by: str | None


def open_mute_rows(connection: Connection) -> list[MuteRow]:
    table = alerts.c
    rows = connection.execute(select(table.id, table.labels, table.source, table.state, table.silenced,
                                     table.inhibited, table.muted_by).where(table.state.in_(OPEN_STATES)))
    return [MuteRow(r.id, json.loads(r.labels), r.source, r.state, r.silenced, r.inhibited, r.muted_by)
            for r in rows]


@dataclass(frozen=True)
class HistoryEvent:
    alert_id: int
    at: datetime
    event: str
    detail: str
    actor: str | None = None


def record_events(connection: Connection, events: Sequence[HistoryEvent]) -> None:
    rows = [{"alert_id": e.alert_id, "at": e.at, "event": e.event, "detail": e.detail, "actor": e.actor}
            for e in events]
    for start in range(0, len(rows), _CHUNK):
        connection.execute(insert(alert_events), rows[start:start + _CHUNK])


# -- groups ------------------------------------------------------------------------------------------------------


@dataclass
class GroupRow:
    group_key: str
    route: str
    receiver: str | None
    group_labels: dict[str, str]
    state: str
    sequence: int
    next_flush_at: datetime | None
    notified: dict[str, dict[str, Any]]
    told: list[str]
    rearm: bool
    escalation_policy: str | None
    escalation_state: str
    escalation_level: int
    escalation_cycle: int
    escalation_started_at: datetime | None
    next_escalation_at: datetime | None
    created_at: datetime
    updated_at: datetime
    exists: bool = True

    def values(self) -> dict[str, Any]:
        return {
            "group_key": self.group_key, "route": self.route, "receiver": self.receiver,
            "group_labels": json.dumps(self.group_labels, sort_keys=True), "state": self.state,
            "sequence": self.sequence, "next_flush_at": self.next_flush_at,
            "notified": json.dumps(self.notified, sort_keys=True), "told": json.dumps(self.told),
            "rearm": self.rearm, "escalation_policy": self.escalation_policy,
            "escalation_state": self.escalation_state, "escalation_level": self.escalation_level,
            "escalation_cycle": self.escalation_cycle, "escalation_started_at": self.escalation_started_at,
            "next_escalation_at": self.next_escalation_at, "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _group_from_row(row: Any) -> GroupRow:
    return GroupRow(
        group_key=row.group_key, route=row.route, receiver=row.receiver, group_labels=json.loads(row.group_labels),
        state=row.state, sequence=row.sequence, next_flush_at=row.next_flush_at, notified=json.loads(row.notified),
        told=json.loads(row.told), rearm=row.rearm, escalation_policy=row.escalation_policy,
        escalation_state=row.escalation_state, escalation_level=row.escalation_level,
        escalation_cycle=row.escalation_cycle, escalation_started_at=row.escalation_started_at,
        next_escalation_at=row.next_escalation_at, created_at=row.created_at, updated_at=row.updated_at,
    )


def groups_by_key(connection: Connection, keys: Iterable[str]) -> dict[str, GroupRow]:
    return {row.group_key: _group_from_row(row)
            for row in _rows_in(connection, select(alert_groups), alert_groups.c.group_key, keys)}


def due_groups(connection: Connection, now: datetime) -> list[GroupRow]:
    query = select(alert_groups).where((alert_groups.c.next_flush_at <= now)
                                       | (alert_groups.c.next_escalation_at <= now))
    return [_group_from_row(row) for row in connection.execute(query.order_by(alert_groups.c.group_key))]


def save_groups(connection: Connection, groups: Iterable[GroupRow]) -> None:
    rows = [group.values() for group in groups]
    for start in range(0, len(rows), _CHUNK):
        upsert(connection, alert_groups, rows[start:start + _CHUNK], ("group_key",))


def add_members(connection: Connection, pairs: Iterable[tuple[str, int]]) -> None:
    rows = [{"group_key": key, "alert_id": alert_id} for key, alert_id in dict.fromkeys(pairs)]
    for start in range(0, len(rows), _CHUNK):
        upsert(connection, alert_group_members, rows[start:start + _CHUNK], ("group_key", "alert_id"))


def remove_members(connection: Connection, group_key: str, alert_ids: Iterable[int]) -> None:
    ids = list(alert_ids)
    if ids:
        connection.execute(delete(alert_group_members).where(and_(
            alert_group_members.c.group_key == group_key, alert_group_members.c.alert_id.in_(ids))))


_MEMBERS = select(alert_group_members.c.group_key, alert_group_members.c.alert_id)


def members(connection: Connection, group_keys: Iterable[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for key, alert_id in _rows_in(connection, _MEMBERS, alert_group_members.c.group_key, group_keys):
        found.setdefault(key, []).append(alert_id)
    return {key: sorted(ids) for key, ids in found.items()}


def groups_of_alerts(connection: Connection, alert_ids: Iterable[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for key, alert_id in _rows_in(connection, _MEMBERS, alert_group_members.c.alert_id, alert_ids):
        found.setdefault(alert_id, []).append(key)
    return found
