"""notifications_table: a day's landed notifications and their element changes as relational rows.

A rebuild deletes the day and writes it again in one transaction (idempotent). An incremental run,
what the sensor triggers, adds only the notifications the day's table does not hold yet.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.storage.bulk import bulk_insert
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_notification_elements, dnb_notifications

_STREAM_BATCH = 2000


@dataclass
class DayTablesResult:
    notifications: int = 0  # rows written by this run
    elements: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def build_day_tables(engine: Engine, day: date, *, rebuild: bool) -> DayTablesResult:
    """Write the day's rows: all of them (``rebuild``) or only those not yet written."""
    started = time.perf_counter()
    result = DayTablesResult()
    with engine.begin() as connection:
        if rebuild:
            connection.execute(delete(dnb_notification_elements).where(dnb_notification_elements.c.delivery_day == day))
            connection.execute(delete(dnb_notifications).where(dnb_notifications.c.delivery_day == day))
        elements: list[dict[str, Any]] = []

        def notification_rows() -> Iterator[dict[str, Any]]:
            for row in _landed_rows(connection, day, only_new=not rebuild):
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


def day_row_counts(engine: Engine, day: date) -> tuple[int, int]:
    """(landed valid notifications, rows in notifications_table) for ``day``: equal when the table is complete."""
    with engine.connect() as connection:
        landed = connection.execute(
            select(func.count()).select_from(dnb_landed_notifications).where(
                dnb_landed_notifications.c.delivery_day == day
            )
        ).scalar_one()
        tabled = connection.execute(
            select(func.count()).select_from(dnb_notifications).where(dnb_notifications.c.delivery_day == day)
        ).scalar_one()
    return landed, tabled


def _landed_rows(connection: Connection, day: date, *, only_new: bool) -> Iterator[Any]:
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
    ).where(landed.c.delivery_day == day)
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
