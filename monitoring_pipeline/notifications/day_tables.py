"""notifications_table: a day's landed notifications and their element changes as relational rows.

A rebuild deletes the day and writes it again in one transaction (idempotent). An incremental run,
what the sensor triggers, adds only the notifications the day's table does not hold yet. Both write what the
run's snapshot reaches; rows a newer run added beyond it are left alone. Writers of one day take turns (a lock
per day), so a backfill and a landing-triggered run of the same day never write the same rows at once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, false, func, select, update

from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.bulk import bulk_insert
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_notification_elements, dnb_notifications

_STREAM_BATCH = 2000
# Day locks are PostgreSQL advisory locks in their own key space: (namespace "MPDT", day ordinal).
_DAY_LOCK_NAMESPACE = 0x4D504454


@dataclass
class DayTablesResult:
    notifications: int = 0  # rows written by this run
    elements: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def build_day_tables(engine: Engine, day: date, *, rebuild: bool, snapshot: Snapshot = EVERYTHING) -> DayTablesResult:
    """Write the day's rows within ``snapshot``: all of them (``rebuild``) or only those not yet written."""
    started = time.perf_counter()
    result = DayTablesResult()
    with engine.begin() as connection:
        _lock_day(connection, day)
        if rebuild:
            _delete_day(connection, day, snapshot)
        elements: list[dict[str, Any]] = []

        def notification_rows() -> Iterator[dict[str, Any]]:
            for row in _landed_rows(connection, day, only_new=not rebuild, snapshot=snapshot):
                notification = json.loads(row.payload)
                changes = notification.get("elements") or []
                result.by_type[row.notification_type] += 1
                for position, change in enumerate(changes):
                    elements.append(_element_row(row, position, change))
                yield {
                    "notification_key": row.notification_key,
                    "reference": row.reference,
                    "duns": row.duns,
                    "notification_type": row.notification_type,
                    "delivery_ts": row.delivery_ts,
                    "delivery_day": row.delivery_day,
                    "element_count": len(changes),
                    "landed_id": row.id,
                }

        for batch in _batches(notification_rows(), _STREAM_BATCH):
            result.notifications += bulk_insert(connection, dnb_notifications, batch)
            result.elements += bulk_insert(connection, dnb_notification_elements, elements)
            elements.clear()
    result.seconds = time.perf_counter() - started
    return result


def day_row_counts(engine: Engine, day: date, snapshot: Snapshot = EVERYTHING) -> tuple[int, int]:
    """(landed valid notifications, rows in notifications_table) of ``day`` within ``snapshot``: equal when the
    table holds the snapshot. One statement, so both counts see the same committed state."""
    landed, tabled = dnb_landed_notifications, dnb_notifications
    landed_count = (
        select(func.count()).select_from(landed)
        .where(landed.c.delivery_day == day, snapshot.landed(landed.c.id))
        .scalar_subquery()
    )
    tabled_count = (
        select(func.count()).select_from(tabled)
        .where(tabled.c.delivery_day == day, snapshot.landed(tabled.c.landed_id))
        .scalar_subquery()
    )
    with engine.connect() as connection:
        counts = connection.execute(select(landed_count, tabled_count)).one()
    return int(counts[0]), int(counts[1])


def _lock_day(connection: Connection, day: date) -> None:
    """Hold the day's write lock until the transaction ends (PostgreSQL: an advisory lock per day)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_DAY_LOCK_NAMESPACE, day.toordinal())))
    else:
        # A write that matches nothing takes SQLite's (single) write lock now, before the day is read.
        connection.execute(update(dnb_notifications).where(false()).values(element_count=0))


def _delete_day(connection: Connection, day: date, snapshot: Snapshot) -> None:
    """Delete the day's rows the snapshot reaches (everything without one), element rows first."""
    notifications, elements = dnb_notifications, dnb_notification_elements
    if snapshot.landed_up_to is None:
        connection.execute(delete(elements).where(elements.c.delivery_day == day))
        connection.execute(delete(notifications).where(notifications.c.delivery_day == day))
        return
    reached = select(notifications.c.notification_key).where(
        notifications.c.delivery_day == day, snapshot.landed(notifications.c.landed_id)
    )
    connection.execute(delete(elements).where(elements.c.delivery_day == day, elements.c.notification_key.in_(reached)))
    connection.execute(
        delete(notifications).where(notifications.c.delivery_day == day, snapshot.landed(notifications.c.landed_id))
    )


def _landed_rows(connection: Connection, day: date, *, only_new: bool, snapshot: Snapshot) -> Iterator[Any]:
    landed = dnb_landed_notifications
    query = select(
        landed.c.id,
        landed.c.notification_key,
        landed.c.reference,
        landed.c.duns,
        landed.c.notification_type,
        landed.c.delivery_ts,
        landed.c.delivery_day,
        landed.c.payload,
    ).where(landed.c.delivery_day == day, snapshot.landed(landed.c.id))
    if only_new:
        query = query.outerjoin(
            dnb_notifications, dnb_notifications.c.notification_key == landed.c.notification_key
        ).where(dnb_notifications.c.notification_key.is_(None))
    query = query.order_by(landed.c.id)
    yield from connection.execution_options(yield_per=_STREAM_BATCH).execute(query)


def _element_row(row: Any, position: int, change: Any) -> dict[str, Any]:
    change = change if isinstance(change, dict) else {"element": str(change)}
    return {
        "notification_key": row.notification_key,
        "position": position,
        "delivery_day": row.delivery_day,
        "duns": row.duns,
        "element": str(change.get("element") or "")[:512],
        "previous": _json_or_none(change.get("previous")),
        "current": _json_or_none(change.get("current")),
        "changed_at": _timestamp_or_none(change.get("timestamp")),
    }


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _timestamp_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_dnb_timestamp(value)
    except ValueError:
        return None


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
