"""The file manifest (``dnb_file_manifest``): every file written to a destination, with its count and sha256.

Local files are recorded under destination ``local``; each remote destination records its copies under its own
name, with the sha256 of the local file each copy came from. Every file is stored before its row is written,
so a row never points at a file that was not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, func, or_, select

from monitoring_pipeline.storage.schema import dnb_file_manifest
from monitoring_pipeline.storage.upsert import upsert

_BATCH = 500
_m = dnb_file_manifest.c


class ManifestRecord(NamedTuple):
    """One recorded file: ``count`` is notifications for a page file, change rows for a company_changes file."""

    reference: str
    count: int
    size: int
    sha256: str
    source_sha256: str | None = None  # remote copies: the local file's sha256


def day_records(
    engine: Engine, destination: str, day: date, prefixes: Sequence[str] | None = None
) -> dict[str, ManifestRecord]:
    """The files of ``day`` recorded for ``destination`` (only under ``prefixes`` when given), by path."""
    statement = select(_m.path, _m.reference, _m.notification_count, _m.bytes, _m.sha256, _m.source_sha256).where(
        _m.destination == destination, _m.delivery_day == day
    )
    if prefixes is not None:
        statement = statement.where(or_(*(_m.path.startswith(p + "/", autoescape=True) for p in prefixes)))
    with engine.connect() as connection:
        return {
            row.path: ManifestRecord(row.reference, row.notification_count, row.bytes, row.sha256, row.source_sha256)
            for row in connection.execute(statement)
        }


def days_with_files(engine: Engine, destination: str, since: date, before: date) -> list[date]:
    """Days in ``[since, before)`` with at least one file recorded for ``destination``, oldest first."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(_m.delivery_day).distinct()
                .where(_m.destination == destination, _m.delivery_day >= since, _m.delivery_day < before)
                .order_by(_m.delivery_day)
            ).scalars()
        )


def stored_totals(engine: Engine, destination: str) -> tuple[int, int]:
    """(files, bytes) the manifest records on ``destination`` over every day."""
    with engine.connect() as connection:
        files, size = connection.execute(
            select(func.count(), func.coalesce(func.sum(_m.bytes), 0)).where(_m.destination == destination)
        ).one()
    return int(files), int(size)


class ManifestWriter:
    """Buffers one destination's manifest upserts for a day and writes them in batches (each file is stored
    before its row)."""

    def __init__(self, engine: Engine, destination: str, day: date) -> None:
        self._engine = engine
        self._destination = destination
        self._day = day
        self._pending: list[dict[str, Any]] = []

    def add(
        self, relative: str, reference: str, count: int, data_size: int, digest: str, source_digest: str | None = None
    ) -> None:
        self._pending.append(
            {
                "destination": self._destination,
                "path": relative,
                "delivery_day": self._day,
                "reference": reference,
                "notification_count": count,
                "bytes": data_size,
                "sha256": digest,
                "written_at": datetime.now(UTC),
                "source_sha256": source_digest,
            }
        )
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        with self._engine.begin() as connection:
            upsert(connection, dnb_file_manifest, self._pending, keys=("destination", "path"))
        self._pending = []

    def delete(self, paths: Iterable[str]) -> None:
        ordered = sorted(paths)
        with self._engine.begin() as connection:
            for start in range(0, len(ordered), _BATCH):
                connection.execute(
                    delete(dnb_file_manifest).where(
                        _m.destination == self._destination,
                        _m.path.in_(ordered[start : start + _BATCH]),
                    )
                )
