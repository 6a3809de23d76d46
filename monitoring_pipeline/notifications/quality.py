"""Data-quality rules behind the asset checks: plain functions returning findings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby

from pydantic import ValidationError
from sqlalchemy import Engine, Select, func, select, tuple_

from monitoring_pipeline.dnb.identifiers import DUNS_PATTERN
from monitoring_pipeline.dnb.keys import page_keys
from monitoring_pipeline.dnb.models import validate_notification
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_notifications, dnb_registration_status


@dataclass
class Finding:
    """A rule's verdict: ``passed`` plus numbers and examples for the check's metadata."""

    passed: bool
    count: int = 0
    examples: list[str] = field(default_factory=list)


def _day_rows(query: Select, day: date, only_new: bool, snapshot: Snapshot) -> Select:
    """Restrict ``query`` over the landed store to ``day`` within ``snapshot``, and to rows not yet in
    notifications_table when ``only_new``.

    A landing-triggered run checks only what it adds, so its cost follows the new data; a rebuild
    checks the whole day. Rows landed after the run's snapshot are the next run's to judge.
    """
    landed = dnb_landed_notifications
    query = query.where(landed.c.delivery_day == day, snapshot.landed(landed.c.id))
    if only_new:
        # Rows tabled so far sit at or below the day's high-water mark: start the scan above it.
        tabled_up_to = (
            select(func.coalesce(func.max(dnb_notifications.c.landed_id), 0))
            .where(dnb_notifications.c.delivery_day == day)
            .scalar_subquery()
        )
        query = query.where(landed.c.id > tabled_up_to).outerjoin(
            dnb_notifications, dnb_notifications.c.notification_key == landed.c.notification_key
        ).where(dnb_notifications.c.notification_key.is_(None))
    return query


def invalid_landed_rows(engine: Engine, day: date, examples: int = 5, *, only_new: bool = False,
                        snapshot: Snapshot = EVERYTHING) -> Finding:
    """Landed rows whose payload no longer passes validation (landed under looser rules, or altered)."""
    finding = Finding(passed=True)
    landed = dnb_landed_notifications
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=2000).execute(
            _day_rows(select(landed.c.notification_key, landed.c.payload), day, only_new, snapshot)
        )
        for key, payload in rows:
            try:
                validate_notification(json.loads(payload))
            except (ValidationError, ValueError) as error:
                finding.count += 1
                if len(finding.examples) < examples:
                    finding.examples.append(f"{key[:12]}: {str(error).splitlines()[0]}")
    finding.passed = finding.count == 0
    return finding


def malformed_duns(engine: Engine, day: date, examples: int = 5, *, only_new: bool = False,
                   snapshot: Snapshot = EVERYTHING) -> Finding:
    landed = dnb_landed_notifications
    bad: list[str] = []
    with engine.connect() as connection:
        for (duns,) in connection.execution_options(yield_per=5000).execute(
            _day_rows(select(landed.c.duns), day, only_new, snapshot).distinct()
        ):
            if not DUNS_PATTERN.match(duns or ""):
                bad.append(duns)
    return Finding(passed=not bad, count=len(bad), examples=bad[:examples])


def duplicate_notifications(engine: Engine, day: date, examples: int = 5, *, only_new: bool = False,
                            snapshot: Snapshot = EVERYTHING) -> Finding:
    """Notifications stored twice, or under a key that is not their content key.

    Within one delivery (reference and deliveryTimeStamp) the stored keys must be exactly the keys
    ``page_keys`` gives the stored payloads: each content key, plus ``#k`` repeats for identical
    copies D&B delivered together. Any extra row is a duplicate. A delivery is judged whole (repeats are
    numbered across it) when the snapshot reaches it.
    """
    landed = dnb_landed_notifications
    finding = Finding(passed=True)
    query = select(landed.c.reference, landed.c.delivery_ts, landed.c.notification_key, landed.c.payload).where(
        landed.c.delivery_day == day
    )
    if only_new or snapshot.landed_up_to is not None:
        # Whole deliveries that received a row to judge: repeats are judged within their delivery.
        touched = _day_rows(select(landed.c.reference, landed.c.delivery_ts), day, only_new, snapshot).distinct()
        query = query.where(tuple_(landed.c.reference, landed.c.delivery_ts).in_(touched))
    query = query.order_by(landed.c.reference, landed.c.delivery_ts, landed.c.page_position, landed.c.id)
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=2000).execute(query)
        for (reference, delivered), group in groupby(rows, key=lambda row: (row.reference, row.delivery_ts)):
            members = list(group)
            expected = set(page_keys(reference, [json.loads(row.payload) for row in members]))
            unexpected = [row.notification_key for row in members if row.notification_key not in expected]
            if unexpected:
                finding.count += len(unexpected)
                if len(finding.examples) < examples:
                    finding.examples.append(f"{reference} at {delivered.isoformat()}: {len(unexpected)} extra")
    finding.passed = finding.count == 0
    return finding


def stale_registrations(engine: Engine, references: list[str], max_age: timedelta,
                        now: datetime | None = None) -> Finding:
    """Registrations whose last successful pull is older than ``max_age`` (or that never succeeded)."""
    now = now or datetime.now(UTC)
    with engine.connect() as connection:
        last_success = {
            row.reference: row.last_success_at
            for row in connection.execute(
                select(dnb_registration_status.c.reference, dnb_registration_status.c.last_success_at)
            )
        }
    stale = []
    for reference in references:
        success = last_success.get(reference)
        if success is None:
            stale.append(f"{reference}: never pulled successfully")
        elif now - success > max_age:
            stale.append(f"{reference}: last successful pull {int((now - success).total_seconds() // 60)} min ago")
    return Finding(passed=not stale, count=len(stale), examples=stale)
