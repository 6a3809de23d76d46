"""Read-side queries over the landed store for one delivery day."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select

from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_quarantine


@dataclass
class DaySummary:
    notifications: int = 0
    quarantined: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_reference: Counter[str] = field(default_factory=Counter)
    preview: list[dict[str, str]] = field(default_factory=list)


def day_summary(engine: Engine, day: date, preview_rows: int = 10, snapshot: Snapshot = EVERYTHING) -> DaySummary:
    """Counts by type and registration, quarantine count and a few rows to show, within ``snapshot``."""
    landed = dnb_landed_notifications
    summary = DaySummary()
    with engine.connect() as connection:
        summary.by_reference, summary.by_type = counts_by_reference_and_type(
            connection, landed, day, snapshot.landed(landed.c.id)
        )
        summary.notifications = sum(summary.by_type.values())
        summary.quarantined = connection.execute(
            select(func.count()).select_from(dnb_quarantine).where(
                dnb_quarantine.c.delivery_day == day, snapshot.quarantined(dnb_quarantine.c.id)
            )
        ).scalar_one()
        for row in connection.execute(
            select(landed.c.reference, landed.c.duns, landed.c.notification_type, landed.c.delivery_ts)
            .where(landed.c.delivery_day == day, snapshot.landed(landed.c.id))
            .order_by(landed.c.delivery_ts.desc(), landed.c.id)
            .limit(preview_rows)
        ):
            summary.preview.append(
                {
                    "reference": row.reference,
                    "duns": row.duns,
                    "type": row.notification_type,
                    "delivered": row.delivery_ts.isoformat(timespec="milliseconds"),
                }
            )
    return summary


def counts_by_reference_and_type(connection: Connection, table: Table, day: date,
                                 *where: ColumnElement[bool]) -> tuple[Counter[str], Counter[str]]:
    """Notifications of ``day`` in ``table`` (landed store or notifications_table) per registration and per type."""
    by_reference: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for reference, notification_type, count in connection.execute(
        select(table.c.reference, table.c.notification_type, func.count())
        .where(table.c.delivery_day == day, *where)
        .group_by(table.c.reference, table.c.notification_type)
    ):
        by_reference[reference] += count
        by_type[notification_type] += count
    return by_reference, by_type


def landed_rows_of_type(engine: Engine, day: date, notification_type: str) -> Iterator[Any]:
    """The day's landed rows of one type (for example TRANSFER, to derive portfolio actions)."""
    landed = dnb_landed_notifications
    with engine.connect() as connection:
        yield from connection.execution_options(yield_per=1000).execute(
            select(landed).where(landed.c.delivery_day == day, landed.c.notification_type == notification_type)
        )


def quarantine_reasons(engine: Engine, day: date, limit: int = 5, snapshot: Snapshot = EVERYTHING) -> list[str]:
    """The first reasons the day's notifications were quarantined for, registration first."""
    q = dnb_quarantine.c
    with engine.connect() as connection:
        return [
            f"{reference}: {reason}"
            for reference, reason in connection.execute(
                select(q.reference, q.reason)
                .where(q.delivery_day == day, snapshot.quarantined(q.id))
                .order_by(q.id)
                .limit(limit)
            )
        ]
