"""Silences: create, end early, list. Each change bumps a version the evaluation watches, so the next evaluation
applies it to every open alert."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.matchers import Matcher, parse_matcher
from monitoring_pipeline.alerting.muting import Silence
from monitoring_pipeline.storage.schema import alert_silences

SILENCES_VERSION = "silences_version"


class SilenceError(ValueError):
    """A silence that cannot be created; the message says why."""


@dataclass(frozen=True)
class SilenceRecord:
    id: int
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    expired_by: str | None

    def state(self, now: datetime) -> str:
        if self.ends_at <= now:
            return "expired"
        return "active" if self.starts_at <= now else "pending"

    def as_silence(self) -> Silence:
        return Silence(self.id, tuple(parse_matcher(m) for m in self.matchers), self.starts_at, self.ends_at,
                       self.created_by, self.comment)


def create_silence(connection: Connection, matchers: Sequence[str | Matcher], starts_at: datetime, ends_at: datetime,
                   created_by: str, comment: str, now: datetime) -> SilenceRecord:
    """A silence of alerts matching every matcher (``name=value``, ``name=~regex``, ...) in [starts_at, ends_at)."""
    parsed = [m if isinstance(m, Matcher) else parse_matcher(m) for m in matchers]
    if not parsed:
        raise SilenceError("a silence needs at least one matcher (e.g. --match integration=stripe)")
    if all(m.matches({}) for m in parsed):
        raise SilenceError("these matchers would also match an alert without labels: silence something specific")
    if ends_at <= starts_at:
        raise SilenceError("a silence must end after it starts")
    if not created_by.strip() or not comment.strip():
        raise SilenceError("a silence needs an author and a comment")
    texts = [str(m) for m in parsed]
    store.lock(connection, now)
    silence_id = int(connection.execute(insert(alert_silences).values(
        matchers=json.dumps(texts), starts_at=starts_at, ends_at=ends_at, created_by=created_by.strip(),
        comment=comment.strip(), created_at=now)).inserted_primary_key[0])
    _bump(connection, now)
    return SilenceRecord(silence_id, tuple(texts), starts_at, ends_at, created_by.strip(), comment.strip(), now, None)


def expire_silence(connection: Connection, silence_id: int, by: str, now: datetime) -> bool:
    """End a silence now; False when there is no such silence still in force (or still to come)."""
    store.lock(connection, now)
    table = alert_silences.c
    row = connection.execute(select(alert_silences).where(table.id == silence_id)).first()
    if row is None or row.ends_at <= now:
        return False
    connection.execute(update(alert_silences).where(table.id == silence_id).values(
        ends_at=max(now, row.starts_at), expired_by=by))
    _bump(connection, now)
    return True


def list_silences(connection: Connection, now: datetime, include_expired: bool = False) -> list[SilenceRecord]:
    """Silences in force or to come (and expired ones when asked), newest first."""
    query = select(alert_silences).order_by(alert_silences.c.id.desc())
    if not include_expired:
        query = query.where(alert_silences.c.ends_at > now)
    return [_record(row) for row in connection.execute(query)]


def active_silences(connection: Connection, now: datetime) -> list[Silence]:
    table = alert_silences.c
    rows = connection.execute(select(alert_silences).where(table.starts_at <= now, table.ends_at > now))
    return [_record(row).as_silence() for row in rows]


def next_boundary(connection: Connection, now: datetime) -> datetime | None:
    """The next moment a silence starts or ends: mutes must be computed again then."""
    table = alert_silences.c
    starts = connection.execute(select(table.starts_at).where(table.starts_at > now)
                                .order_by(table.starts_at).limit(1)).scalar_one_or_none()
    ends = connection.execute(select(table.ends_at).where(table.ends_at > now)
                              .order_by(table.ends_at).limit(1)).scalar_one_or_none()
    moments = [m for m in (starts, ends) if m is not None]
    return min(moments) if moments else None


def version(connection: Connection) -> int:
    return int(store.load_state(connection, SILENCES_VERSION) or 0)


def _bump(connection: Connection, now: datetime) -> None:
    store.save_state(connection, SILENCES_VERSION, version(connection) + 1, now)


def _record(row: object) -> SilenceRecord:
    return SilenceRecord(row.id, tuple(json.loads(row.matchers)), row.starts_at, row.ends_at,  # type: ignore[attr-defined]
                         row.created_by, row.comment, row.created_at, row.expired_by)  # type: ignore[attr-defined]
