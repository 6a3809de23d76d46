"""company_changes: the day's element-level changes, in the database and as one Parquet file.

They live in the ``dnb_company_changes`` view over notifications_table, always consistent with it. The day's
file, ``company_changes/YYYY/MM/DD/company_changes_YYYYMMDD.parquet``, holds the same changes for people and
tools that read files: one row per element change of the notifications the run's snapshot reaches, in delivery
order, with the columns of the per-page CSV/Parquet files (``ELEMENT_COLUMNS``; timestamps in UTC with
milliseconds). It is rewritten whole by every run (streamed, in row groups, so memory stays flat), atomically,
recorded in the manifest like the page files, and gone on a day without changes. Equal changes give equal bytes,
so a backfill rebuilds it identically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.files import ExportSettings, ManifestWriter, company_changes_path, day_records
from monitoring_pipeline.notifications.files.layout import company_changes_prefix
from monitoring_pipeline.notifications.files.render import ELEMENT_SCHEMA, element_table
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.local_files import atomic_writer, remove_empty_directory, sha256_file
from monitoring_pipeline.storage.schema import dnb_notification_elements, dnb_notifications

ROW_GROUP_ROWS = 20_000
TOP_ELEMENTS = 10
NO_REFERENCE = ""  # the manifest's reference column: the file covers every registration
_e = dnb_notification_elements.c
_n = dnb_notifications.c


@dataclass
class ChangesFile:
    """What writing the day's company_changes file found and did, for run metadata."""

    changes: int = 0  # rows: one per element change
    companies: int = 0  # distinct DUNS changed
    top_elements: list[tuple[str, int]] = field(default_factory=list)
    path: str | None = None  # relative to the base path; None when the day has no changes
    bytes_written: int = 0
    removed: bool = False  # a file of an earlier run was removed: the day has no changes now


def write_changes_file(
    engine: Engine, settings: ExportSettings, day: date, *, snapshot: Snapshot = EVERYTHING
) -> ChangesFile:
    """Write the day's company_changes Parquet file from notifications_table within ``snapshot`` (or remove it,
    and its manifest row, when the day has no changes)."""
    batches = _batches(engine, day, snapshot)
    first = next(batches, None)
    if first is None:
        return _clear(engine, settings, day)
    relative = company_changes_path(day)
    target = settings.base_path / relative
    result = ChangesFile(path=relative)
    elements: Counter[str] = Counter()
    companies: set[str] = set()
    with atomic_writer(target) as handle, pq.ParquetWriter(handle, ELEMENT_SCHEMA, compression="snappy") as parquet:
        for batch in chain([first], batches):
            parquet.write_table(element_table(batch), row_group_size=ROW_GROUP_ROWS)
            result.changes += len(batch)
            elements.update(row[5] or "" for row in batch)
            companies.update(row[2] for row in batch)
    result.companies = len(companies)
    result.top_elements = sorted(elements.items(), key=lambda item: (-item[1], item[0]))[:TOP_ELEMENTS]
    result.bytes_written = target.stat().st_size
    writer = ManifestWriter(engine, settings.destination, day)
    writer.add(relative, NO_REFERENCE, result.changes, result.bytes_written, sha256_file(target))
    writer.flush()
    return result


def _clear(engine: Engine, settings: ExportSettings, day: date) -> ChangesFile:
    relative = company_changes_path(day)
    target = settings.base_path / relative
    result = ChangesFile(removed=target.is_file())
    target.unlink(missing_ok=True)
    remove_empty_directory(target.parent)
    recorded = day_records(engine, settings.destination, day, [company_changes_prefix(day)])
    if recorded:
        ManifestWriter(engine, settings.destination, day).delete(recorded)
    return result


def _batches(engine: Engine, day: date, snapshot: Snapshot) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of ``ELEMENT_COLUMNS`` in delivery order, streamed in batches of ``ROW_GROUP_ROWS``."""
    statement = (
        select(_n.notification_key, _n.reference, _n.duns, _n.notification_type, _n.delivery_ts, _e.element,
               _e.previous, _e.current, _e.changed_at)
        .select_from(dnb_notification_elements.join(dnb_notifications, _n.notification_key == _e.notification_key))
        .where(_e.delivery_day == day, snapshot.landed(_n.landed_id))
        .order_by(_n.delivery_ts, _n.reference, _e.notification_key, _e.position)
    )
    batch: list[tuple[Any, ...]] = []
    with engine.connect() as connection:
        for key, reference, duns, kind, delivered, element, previous, current, changed in connection.execution_options(
            yield_per=ROW_GROUP_ROWS
        ).execute(statement):
            # As in the page files: JSON values compact, a missing one is JSON null.
            batch.append((key, reference, duns, kind, format_millis(delivered), element,
                          "null" if previous is None else previous, "null" if current is None else current,
                          None if changed is None else format_millis(changed)))
            if len(batch) >= ROW_GROUP_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch
