"""The delivery step's reads and writes: leasing due outbox rows (safe with several processes), the delivery log,
each row's outcome, receiver health (broken receivers hold their notifications), and the alerts pushed to
Alertmanager channels. Every function takes an engine or a connection; no sending happens here."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql

from monitoring_pipeline.alerting.outbox import DELIVERED, FAILED, HELD, PENDING
from monitoring_pipeline.storage.schema import (
    alert_delivery_log,
    alert_outbox,
    alert_pushed_alerts,
    alert_receiver_status,
)
from monitoring_pipeline.storage.upsert import upsert

OK = "ok"
BROKEN = "broken"
# Outcomes of one attempt in the delivery log.
LOG_DELIVERED, LOG_RETRY, LOG_FAILED, LOG_HELD = "delivered", "retry", "failed", "held"
# The delivery log's kind for a periodic re-send of alerts still firing to an Alertmanager channel.
RESEND = "resend"


@dataclass(frozen=True)
class LeasedRow:
    id: int
    idempotency_key: str
    receiver: str
    kind: str
    group_key: str
    payload: str
    created_at: datetime
    attempts: int
    lease: datetime  # our lease token: the row is ours while leased_until still equals it


@dataclass(frozen=True)
class Attempt:
    """One attempt of one channel, as the delivery log records it."""

    outbox_id: int
    idempotency_key: str
    receiver: str
    channel: str
    channel_type: str
    kind: str
    attempt: int
    attempted_at: datetime
    outcome: str
    status_code: int | None
    detail: str
    latency_ms: float | None

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lease_due(engine: Engine, now: datetime, limit: int, lease_seconds: float, receivers: Iterable[str],
              only_ids: Sequence[int] | None = None, skip_ids: Iterable[int] = ()) -> list[LeasedRow]:
    """Lease up to ``limit`` due rows of ``receivers``: pending, due, not leased by a live process, and first of their
    (receiver, group) still unfinished, so a group's notifications go out in the order they were decided.

    One conditional UPDATE: on PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent processes take
    different rows; SQLite runs the statement under its single writer lock.
    """
    receivers = list(receivers)
    if not receivers or limit <= 0:
        return []
    outbox = alert_outbox
    earlier = alert_outbox.alias("earlier")
    # A distinct token per lease (microseconds): our later writes only apply while the row is still ours.
    lease = now + timedelta(seconds=lease_seconds, microseconds=random.randrange(1, 1_000_000))
    conditions = [
        outbox.c.status == PENDING,
        outbox.c.due_at <= now,
        or_(outbox.c.leased_until.is_(None), outbox.c.leased_until < now),
        outbox.c.receiver.in_(receivers),
        ~exists().where(and_(earlier.c.receiver == outbox.c.receiver, earlier.c.group_key == outbox.c.group_key,
                             earlier.c.id < outbox.c.id, earlier.c.status.in_((PENDING, HELD)))),
    ]
    if only_ids is not None:
        conditions.append(outbox.c.id.in_(list(only_ids)))
    skip = list(skip_ids)
    if skip:
        conditions.append(outbox.c.id.not_in(skip))
    candidates = select(outbox.c.id).where(*conditions).order_by(outbox.c.due_at, outbox.c.id).limit(limit)
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=outbox)
    statement = (
        update(outbox).where(outbox.c.id.in_(candidates.scalar_subquery()))
        .values(leased_until=lease)
        .returning(outbox.c.id, outbox.c.idempotency_key, outbox.c.receiver, outbox.c.kind, outbox.c.group_key,
                   outbox.c.payload, outbox.c.created_at, outbox.c.attempts)
    )
    with engine.begin() as connection:
        rows = connection.execute(statement).all()
    return sorted((LeasedRow(*row, lease=lease) for row in rows), key=lambda r: r.id)


def channel_history(engine: Engine, outbox_ids: Sequence[int]) -> dict[int, dict[str, tuple[int, bool]]]:
    """Per outbox row and channel: (attempts so far, delivered already?). A row retried after a crash or a partial
    failure is not sent again to the channels that have it."""
    if not outbox_ids:
        return {}
    log = alert_delivery_log
    query = (select(log.c.outbox_id, log.c.channel, func.count(),
                    func.sum(case((log.c.outcome == LOG_DELIVERED, 1), else_=0)))
             .where(log.c.outbox_id.in_(list(outbox_ids))).group_by(log.c.outbox_id, log.c.channel))
    history: dict[int, dict[str, tuple[int, bool]]] = {}
    with engine.connect() as connection:
        for outbox_id, channel, attempts, delivered in connection.execute(query):
            history.setdefault(outbox_id, {})[channel] = (int(attempts), bool(delivered))
    return history


def thread_root(engine: Engine, row: LeasedRow) -> str | None:
    """The idempotency key of the trigger an e-mail about ``row`` replies to: the group's latest trigger before it,
    unless a resolution came in between (then a trigger starts a new thread)."""
    outbox = alert_outbox
    query = (select(outbox.c.kind, outbox.c.idempotency_key)
             .where(outbox.c.receiver == row.receiver, outbox.c.group_key == row.group_key, outbox.c.id < row.id,
                    outbox.c.kind.in_(("trigger", "resolution")))
             .order_by(outbox.c.id.desc()).limit(1))
    with engine.connect() as connection:
        latest = connection.execute(query).first()
    if latest is None:
        return None
    return latest.idempotency_key if latest.kind == "trigger" else None


def record_attempts(engine: Engine, attempts: Sequence[Attempt]) -> None:
    if attempts:
        with engine.begin() as connection:
            connection.execute(alert_delivery_log.insert(), [a.row() for a in attempts])


@dataclass(frozen=True)
class RowOutcome:
    """How an outbox row ends this pass."""

    status: str  # pending | delivered | failed | held
    due_at: datetime | None = None  # pending: when to try again
    attempted: bool = True  # False: nothing was sent (deferred): the attempt count stays
    error: str | None = None


def finish_row(connection: Connection, row: LeasedRow, outcome: RowOutcome, now: datetime) -> bool:
    """Apply ``outcome`` to ``row`` if it is still ours (our lease token); False when another process took it over."""
    values: dict[str, Any] = {"status": outcome.status, "leased_until": None}
    if outcome.attempted:
        values["attempts"] = row.attempts + 1
    if outcome.due_at is not None:
        values["due_at"] = outcome.due_at
    if outcome.error is not None:
        values["last_error"] = outcome.error
    if outcome.status == DELIVERED:
        values["delivered_at"] = now
    result = connection.execute(update(alert_outbox)
                                .where(alert_outbox.c.id == row.id, alert_outbox.c.leased_until == row.lease)
                                .values(**values))
    return result.rowcount == 1


def finish_delivered(connection: Connection, rows: Sequence[LeasedRow], now: datetime) -> set[int]:
    """Mark ``rows`` delivered in one statement, those still ours (our lease token); returns their ids, so a row
    another process took over is told apart. The same as ``finish_row`` with a plain delivery, for many rows."""
    if not rows:
        return set()
    outbox = alert_outbox
    statement = (update(outbox)
                 .where(tuple_(outbox.c.id, outbox.c.leased_until).in_([(row.id, row.lease) for row in rows]))
                 .values(status=DELIVERED, leased_until=None, attempts=outbox.c.attempts + 1, delivered_at=now)
                 .returning(outbox.c.id))
    return set(connection.execute(statement).scalars())


def release(engine: Engine, rows: Iterable[LeasedRow]) -> None:
    """Give back rows that were leased but not started (the budget ran out): due again at once."""
    with engine.begin() as connection:
        for row in rows:
            connection.execute(update(alert_outbox)
                               .where(alert_outbox.c.id == row.id, alert_outbox.c.leased_until == row.lease)
                               .values(leased_until=None))


# -- receiver health -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiverHealth:
    receiver: str
    state: str
    reason: str | None
    config_hash: str | None
    since: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    consecutive_failures: int


def receiver_health(connection: Connection | Engine) -> dict[str, ReceiverHealth]:
    query = select(alert_receiver_status)
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            rows = conn.execute(query).all()
    else:
        rows = connection.execute(query).all()
    return {row.receiver: ReceiverHealth(*row) for row in rows}


def lock_receiver(connection: Connection, receiver: str, now: datetime) -> None:
    """Take ``receiver``'s health row first in a transaction that also changes its outbox rows, so that two
    processes finishing rows of one receiver queue up instead of deadlocking (PostgreSQL; SQLite has one writer)."""
    if connection.dialect.name != "postgresql":
        return
    insert = postgresql.insert(alert_receiver_status).values(receiver=receiver, state=OK, since=now,
                                                             consecutive_failures=0)
    connection.execute(insert.on_conflict_do_nothing(index_elements=["receiver"]))
    connection.execute(select(alert_receiver_status.c.receiver)
                       .where(alert_receiver_status.c.receiver == receiver).with_for_update())


def _save_health(connection: Connection, health: ReceiverHealth) -> None:
    upsert(connection, alert_receiver_status, [health.__dict__], ["receiver"])


def note_success(connection: Connection, receiver: str, config_hash: str, now: datetime) -> bool:
    """A delivery or test to ``receiver`` succeeded: it is healthy, and what it held goes out. True when it had
    been broken."""
    current = receiver_health(connection).get(receiver)
    was_broken = current is not None and current.state == BROKEN
    since = now if current is None or was_broken else current.since
    _save_health(connection, ReceiverHealth(receiver, OK, None, config_hash, since, now,
                                            current.last_failure_at if current else None, 0))
    if was_broken:
        release_held(connection, receiver, now)
    return was_broken


def note_failure(connection: Connection, receiver: str, config_hash: str | None, now: datetime, reason: str,
                 *, permanent: bool, failing_after: int) -> bool:
    """A failed attempt: a permanent one breaks the receiver at once and holds its pending notifications; retryable
    ones break it (without holding) after ``failing_after`` in a row, so the others hear of it. True when the
    receiver became broken now."""
    current = receiver_health(connection).get(receiver)
    failures = (current.consecutive_failures if current else 0) + 1
    was_broken = current is not None and current.state == BROKEN
    broken = permanent or was_broken or failures >= failing_after
    since = (current.since if current is not None and was_broken == broken else now)
    state_reason = reason if broken else (current.reason if current else None)
    _save_health(connection, ReceiverHealth(receiver, BROKEN if broken else OK, state_reason, config_hash, since,
                                            current.last_success_at if current else None, now, failures))
    if permanent:
        hold_pending(connection, receiver)
    return broken and not was_broken


def hold_pending(connection: Connection, receiver: str, error: str | None = None) -> int:
    """Hold ``receiver``'s pending notifications (tests excepted: they are how a fix is proven)."""
    values: dict[str, Any] = {"status": HELD}
    if error is not None:
        values["last_error"] = error
    # A row a process is sending right now is held too; its outcome, written under its lease, has the last word.
    return connection.execute(update(alert_outbox).where(
        alert_outbox.c.receiver == receiver, alert_outbox.c.status == PENDING, alert_outbox.c.kind != "test",
    ).values(**values)).rowcount


def release_held(connection: Connection, receiver: str, now: datetime) -> int:
    """Held notifications of ``receiver`` are due again, in their original order."""
    return connection.execute(update(alert_outbox)
                              .where(alert_outbox.c.receiver == receiver, alert_outbox.c.status == HELD)
                              .values(status=PENDING, due_at=now, leased_until=None)).rowcount


def held_receivers(connection: Connection) -> set[str]:
    query = select(alert_outbox.c.receiver).where(alert_outbox.c.status == HELD).distinct()
    return {receiver for (receiver,) in connection.execute(query)}


def reconcile_receivers(engine: Engine, hashes: Mapping[str, str], now: datetime, hold_expiry: timedelta) -> None:
    """Before leasing: a broken receiver whose configuration changed gets its held notifications back; a broken
    receiver still holding keeps new ones held; notifications for receivers not configured wait (held) until they
    are; held ones older than ``hold_expiry`` fail."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # health rows before outbox rows, as finishing rows does
            connection.execute(select(alert_receiver_status.c.receiver)
                               .order_by(alert_receiver_status.c.receiver).with_for_update())
        health = receiver_health(connection)
        for receiver, config_hash in hashes.items():
            current = health.get(receiver)
            if current is not None and current.state == BROKEN and current.config_hash != config_hash:
                release_held(connection, receiver, now)
                _save_health(connection, ReceiverHealth(**{**current.__dict__, "config_hash": config_hash}))
        for receiver in held_receivers(connection):
            if receiver in hashes:
                hold_pending(connection, receiver)
        pending = select(alert_outbox.c.receiver).where(alert_outbox.c.status == PENDING).distinct()
        unknown = [r for r in connection.execute(pending).scalars() if r not in hashes]
        for receiver in unknown:
            reason = f"receiver {receiver} is not in the alerting configuration"
            hold_pending(connection, receiver, reason)
            current = health.get(receiver)
            if current is None or current.state != BROKEN:
                _save_health(connection, ReceiverHealth(receiver, BROKEN, reason, None, now,
                                                        current.last_success_at if current else None, now,
                                                        current.consecutive_failures if current else 0))
        connection.execute(update(alert_outbox)
                           .where(alert_outbox.c.status == HELD, alert_outbox.c.created_at < now - hold_expiry)
                           .values(status=FAILED, last_error=f"gave up: held for more than {hold_expiry}"))


# -- alerts pushed to Alertmanager channels ------------------------------------------------------------------


def remember_pushed(connection: Connection, receiver: str, channel: str, firing: Mapping[str, dict[str, Any]],
                    resolved: Iterable[str], now: datetime, refresh_at: datetime, outbox_id: int) -> None:
    """Firing alerts to re-send before their endsAt (``outbox_id``: the notification that pushed them); resolved
    ones are forgotten."""
    upsert(connection, alert_pushed_alerts,
           [{"receiver": receiver, "channel": channel, "fingerprint": fp, "body": json.dumps(body, sort_keys=True),
             "refresh_at": refresh_at, "pushed_at": now, "outbox_id": outbox_id}
            for fp, body in sorted(firing.items())],
           ["receiver", "channel", "fingerprint"])
    gone = list(resolved)
    if gone:
        connection.execute(delete(alert_pushed_alerts).where(
            alert_pushed_alerts.c.receiver == receiver, alert_pushed_alerts.c.channel == channel,
            alert_pushed_alerts.c.fingerprint.in_(gone)))


@dataclass(frozen=True)
class PushedAlert:
    """An alert pushed to an Alertmanager channel that is due for a re-send, and the notification that pushed it
    (its outbox row and idempotency key; None for alerts pushed before migration 0012)."""

    fingerprint: str
    body: dict[str, Any]
    outbox_id: int | None
    idempotency_key: str | None


def due_pushed(engine: Engine, now: datetime) -> dict[tuple[str, str], list[PushedAlert]]:
    """Pushed alerts due for a re-send, by (receiver, channel)."""
    pushed, outbox = alert_pushed_alerts, alert_outbox
    query = (select(pushed.c.receiver, pushed.c.channel, pushed.c.fingerprint, pushed.c.body, pushed.c.outbox_id,
                    outbox.c.idempotency_key)
             .join(outbox, outbox.c.id == pushed.c.outbox_id, isouter=True)
             .where(pushed.c.refresh_at <= now).order_by(pushed.c.fingerprint))
    found: dict[tuple[str, str], list[PushedAlert]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            found.setdefault((row.receiver, row.channel), []).append(
                PushedAlert(row.fingerprint, json.loads(row.body), row.outbox_id, row.idempotency_key))
    return found


def record_resend(engine: Engine, receiver: str, channel: str, attempts: Sequence[Attempt],
                  refreshed: Iterable[str] = (), now: datetime | None = None,
                  refresh_at: datetime | None = None) -> None:
    """Log a re-send's attempts and, when it was delivered, move the ``refreshed`` alerts' next re-send, in one
    transaction."""
    with engine.begin() as connection:
        if attempts:
            connection.execute(alert_delivery_log.insert(), [a.row() for a in attempts])
        fingerprints = list(refreshed)
        if fingerprints:
            connection.execute(update(alert_pushed_alerts).where(
                alert_pushed_alerts.c.receiver == receiver, alert_pushed_alerts.c.channel == channel,
                alert_pushed_alerts.c.fingerprint.in_(fingerprints)).values(refresh_at=refresh_at, pushed_at=now))
