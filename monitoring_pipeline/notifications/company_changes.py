"""company_changes: the day's element-level changes, in the database and as one Parquet file.

They live in the ``dnb_company_changes`` view over notifications_table, always consistent with it. The day's
file, ``company_changes/YYYY/MM/DD/company_changes_YYYYMMDD.parquet``, holds the same changes for people and
tools that read files: one row per element change of the notifications the run's snapshot reaches, in delivery
order, with the columns of the per-page CSV/Parquet files (``ELEMENT_COLUMNS``; timestamps in UTC with
milliseconds), in row groups of ``ROW_GROUP_ROWS``. Every write is atomic and recorded in the manifest like the
page files; a day without changes has no file.

A rebuild streams the whole day from the database. An incremental run appends: it copies the file's full row
groups as they are and writes the new changes after them, which gives the same bytes as a rebuild would (same
rows, same row groups) at a fraction of the cost; whenever the file is not what the manifest says, or a change
landed before its last row (a late replay), it rebuilds instead. Equal changes give equal bytes, so a backfill
rebuilds it identically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, func, select

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.files import ExportSettings, ManifestWriter, company_changes_path, day_records
from monitoring_pipeline.notifications.files.layout import company_changes_prefix
from monitoring_pipeline.notifications.files.render import ELEMENT_SCHEMA, element_table
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.local_files import atomic_writer, remove_empty_directory, sha256_file
from monitoring_pipeline.storage.schema import dnb_notification_elements, dnb_notifications

ROW_GROUP_ROWS = 20_000
_FETCH_ROWS = 2_000
DICTIONARY_COLUMNS = ("registration_reference", "duns", "type", "delivery_timestamp", "element", "element_timestamp")
TOP_ELEMENTS = 10
NO_REFERENCE = ""  # the manifest's reference column: the file covers every registration
_e = dnb_notification_elements.c
_n = dnb_notifications.c
_ORDER = (_n.delivery_ts, _n.reference, _e.notification_key)  # the file's row order, with _e.position


@dataclass
class ChangesFile:
    """What writing the day's company_changes file found and did, for run metadata."""

    changes: int = 0  # rows: one per element change
    companies: int = 0  # distinct DUNS changed
    top_elements: list[tuple[str, int]] = field(default_factory=list)
    path: str | None = None  # relative to the base path; None when the day has no changes
    bytes_written: int = 0
    appended: int | None = None  # rows appended by an incremental run; None when the day was written whole
    removed: bool = False  # a file of an earlier run was removed: the day has no changes now


def write_changes_file(
    engine: Engine, settings: ExportSettings, day: date, *, snapshot: Snapshot = EVERYTHING, incremental: bool = False
) -> ChangesFile:
    """Write the day's company_changes Parquet file from notifications_table within ``snapshot``: appending
    what is new when ``incremental`` and the file allows it, else the whole day (or remove the file and its
    manifest row when the day has no changes)."""
    relative = company_changes_path(day)
    target = settings.base_path / relative
    result = ChangesFile(path=relative)
    if not (incremental and _append(engine, settings, day, snapshot, target, result)):
        batches = _batches(engine, _day_changes(day, snapshot))
        first = next(batches, None)
        if first is None:
            return _clear(engine, settings, day)
        with atomic_writer(target) as handle, _parquet_writer(handle) as out:
            out.write_table(first)
            for batch in batches:
                out.write_table(batch)
    _describe(target, result)
    writer = ManifestWriter(engine, settings.destination, day)
    writer.add(relative, NO_REFERENCE, result.changes, result.bytes_written, sha256_file(target))
    writer.flush()
    return result


def _append(engine: Engine, settings: ExportSettings, day: date, snapshot: Snapshot, target: Path,
            result: ChangesFile) -> bool:
    """Append the changes landed after the file's last row; False (nothing written) when only a rebuild is right.

    What is new is found by landed id, through the day's index: the notifications landed after the page the file
    ends with. Appending is right when all of them sort after that last row and the file then holds exactly as
    many changes as the snapshot has; a late replay (landed later, delivered earlier) fails that, and rebuilds.
    """
    record = day_records(engine, settings.destination, day, [company_changes_prefix(day)]).get(result.path or "")
    if record is None or not target.is_file() or target.stat().st_size != record.size:
        return False
    existing = pq.ParquetFile(target)
    groups = existing.metadata.num_row_groups
    if (existing.schema_arrow != ELEMENT_SCHEMA or existing.metadata.num_rows != record.count or groups == 0
            or any(existing.metadata.row_group(i).num_rows != ROW_GROUP_ROWS for i in range(groups - 1))):
        return False
    tail = existing.read_row_group(groups - 1)
    last_key = tail.column("notification_key")[-1].as_py()
    with engine.connect() as connection:
        last = connection.execute(
            select(_n.delivery_ts, _n.reference, _n.notification_key).where(_n.notification_key == last_key)
        ).first()
        # The last page of the file was landed whole: its highest landed id bounds what the file holds.
        landed_up_to = None if last is None else connection.execute(
            select(func.max(_n.landed_id)).where(
                _n.delivery_day == day, _n.reference == last.reference, _n.delivery_ts == last.delivery_ts)
        ).scalar_one()
        # Every change of the snapshot, counted on one table through its (delivery_day, landed_id) index.
        total = connection.execute(
            select(func.coalesce(func.sum(_n.element_count), 0)).where(
                _n.delivery_day == day, snapshot.landed(_n.landed_id))
        ).scalar_one()
    if last is None:
        return False
    new = list(_batches(engine, _day_changes(day, snapshot, landed_after=landed_up_to)))
    first_new = new[0].slice(0, 1).to_pylist()[0] if new else None
    if first_new is not None and (
        (first_new["delivery_timestamp"], first_new["registration_reference"], first_new["notification_key"])
        <= (format_millis(last.delivery_ts), last.reference, last.notification_key)
    ):
        return False  # landed after the last row but delivered before it: a late replay
    added = sum(batch.num_rows for batch in new)
    if existing.metadata.num_rows + added != int(total):
        return False  # a change of the snapshot is missing from the file, or one went away
    with atomic_writer(target) as handle, _parquet_writer(handle) as out:
        for index in range(groups - 1):
            out.write_table(existing.read_row_group(index))
        # The same row groups a rebuild writes: full ones, then the remainder.
        out.write_table(pa.concat_tables([tail, *new]).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
    result.appended = added
    return True


def _parquet_writer(handle: Any) -> pq.ParquetWriter:
    # Dictionaries only where values repeat: keys and JSON values would not shrink and cost time.
    return pq.ParquetWriter(handle, ELEMENT_SCHEMA, compression="snappy", use_dictionary=list(DICTIONARY_COLUMNS))


def _describe(target: Path, result: ChangesFile) -> None:
    """Counts and the most changed elements, read back from the file's columns."""
    columns = pq.read_table(target, columns=["duns", "element"])
    result.changes = columns.num_rows
    result.companies = len(pc.unique(columns.column("duns")))
    counted = pc.value_counts(pc.fill_null(columns.column("element"), "")).to_pylist()
    ranked = sorted(((c["values"], c["counts"]) for c in counted), key=lambda item: (-item[1], item[0]))
    result.top_elements = ranked[:TOP_ELEMENTS]
    result.bytes_written = target.stat().st_size


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


def _day_changes(day: date, snapshot: Snapshot, landed_after: int | None = None) -> Any:
    """The day's element changes within ``snapshot``, in file order; only those of notifications landed after
    ``landed_after`` when given (found through the notifications' (delivery_day, landed_id) index)."""
    statement = (
        select(_n.notification_key, _n.reference, _n.duns, _n.notification_type, _n.delivery_ts, _e.element,
               _e.previous, _e.current, _e.changed_at)
        .select_from(dnb_notification_elements.join(dnb_notifications, _n.notification_key == _e.notification_key))
        .where(snapshot.landed(_n.landed_id))
        .order_by(*_ORDER, _e.position)
    )
    if landed_after is None:
        return statement.where(_e.delivery_day == day)
    return statement.where(_n.delivery_day == day, _n.landed_id > landed_after)


def _batches(engine: Engine, statement: Any) -> Iterator[pa.Table]:
    """``statement``'s rows as Arrow tables of ``ELEMENT_COLUMNS``, ``ROW_GROUP_ROWS`` rows each (the last fewer).

    Rows become Arrow a few thousand at a time: a row group of JSON values held as Python objects would be
    several times its Arrow size.
    """
    chunks: list[pa.Table] = []
    rows: list[tuple[Any, ...]] = []
    held = 0
    with engine.connect() as connection:
        for key, reference, duns, kind, delivered, element, previous, current, changed in connection.execution_options(
            yield_per=_FETCH_ROWS
        ).execute(statement):
            # As in the page files: JSON values compact, a missing one is JSON null.
            rows.append((key, reference, duns, kind, format_millis(delivered), element,
                         "null" if previous is None else previous, "null" if current is None else current,
                         None if changed is None else format_millis(changed)))
            if len(rows) >= min(_FETCH_ROWS, ROW_GROUP_ROWS - held):
                chunks.append(element_table(rows))
                held += len(rows)
                rows = []
            if held >= ROW_GROUP_ROWS:
                yield pa.concat_tables(chunks).combine_chunks()
                chunks, held = [], 0
    if rows:
        chunks.append(element_table(rows))
    if chunks:
        yield pa.concat_tables(chunks).combine_chunks()
