"""A run's snapshot: the landed and quarantined high-water marks it started from.

Notifications keep landing while a day's run works. Every check of the run judges only what was landed up to
its snapshot, never what arrived during the run (a false alarm pages a person); the run's writes follow the same
snapshot, so what it wrote is exactly what it judged. Data that arrives later is the next run's.

The landing sensor takes the snapshot when it requests a run (run tags); any other run (a backfill, a manual
launch) records one in ``dnb_run_snapshots`` the first time one of its assets asks, after its replay, so every
asset of the run shares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, delete, func, select, text, true
from sqlalchemy.dialects import postgresql, sqlite

from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_quarantine, dnb_run_snapshots

# Long enough for any run that may still ask; the table stays a few thousand rows.
SNAPSHOT_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Snapshot:
    """Landed ids and quarantine ids up to which a run judges; ``None`` means everything, whenever it landed."""

    landed_up_to: int | None = None
    quarantined_up_to: int | None = None

    def landed(self, id_column: ColumnElement[int]) -> ColumnElement[bool]:
        """A filter keeping landed rows (by id) inside the snapshot."""
        return true() if self.landed_up_to is None else id_column <= self.landed_up_to

    def quarantined(self, id_column: ColumnElement[int]) -> ColumnElement[bool]:
        """A filter keeping quarantine rows (by id) inside the snapshot."""
        return true() if self.quarantined_up_to is None else id_column <= self.quarantined_up_to

    def holds(self, landed_id: int) -> bool:
        return self.landed_up_to is None or landed_id <= self.landed_up_to


EVERYTHING = Snapshot()


def take_snapshot(engine: Engine) -> Snapshot:
    """The current committed high-water marks of the landed store and the quarantine.

    Every row at or below a mark is committed and visible, and no row below it can still appear: on
    PostgreSQL sequence ids are handed out before commit, so a SHARE lock first waits for the landing
    transactions in flight (a page each, short); SQLite has a single writer, so ids commit in order.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text(f"LOCK TABLE {dnb_landed_notifications.name}, {dnb_quarantine.name} IN SHARE MODE")
            )
        landed = connection.execute(select(func.coalesce(func.max(dnb_landed_notifications.c.id), 0))).scalar_one()
        quarantined = connection.execute(select(func.coalesce(func.max(dnb_quarantine.c.id), 0))).scalar_one()
    return Snapshot(int(landed), int(quarantined))


def run_snapshot(engine: Engine, run_id: str, now: datetime | None = None) -> Snapshot:
    """The run's snapshot: taken and recorded by the first asset of the run that asks, read back by the others."""
    recorded = _recorded(engine, run_id)
    if recorded is not None:
        return recorded
    taken = take_snapshot(engine)
    now = now or datetime.now(UTC)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as connection:
        connection.execute(
            dialect.insert(dnb_run_snapshots)
            .values(run_id=run_id, landed_up_to=taken.landed_up_to, quarantined_up_to=taken.quarantined_up_to,
                    recorded_at=now)
            .on_conflict_do_nothing()
        )
        connection.execute(delete(dnb_run_snapshots).where(dnb_run_snapshots.c.recorded_at < now - SNAPSHOT_RETENTION))
    # Two assets of one run may race to record it: the first insert wins and both read it.
    result = _recorded(engine, run_id)
    assert result is not None
    return result


def _recorded(engine: Engine, run_id: str) -> Snapshot | None:
    s = dnb_run_snapshots.c
    with engine.connect() as connection:
        row = connection.execute(
            select(s.landed_up_to, s.quarantined_up_to).where(s.run_id == run_id)
        ).first()
    return None if row is None else Snapshot(int(row.landed_up_to), int(row.quarantined_up_to))
