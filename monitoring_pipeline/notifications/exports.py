"""Date-organised notification files: one file per D&B Pull page, idempotent and incremental.

Layout under ``ExportSettings.base_path``::

    notifications/YYYY/MM/DD/<reference>/notifications_YYYYMMDD_HHMMSS_NNN.json[.gz]   (always)
                                                          ..._NNN.csv[.gz] / .parquet  (optional)

A group is the notifications of one registration sharing one ``deliveryTimeStamp`` (one Pull page);
its file names and contents derive only from landed data, so re-materializing gives the same bytes.
Every file is written atomically and recorded in ``dnb_file_manifest`` with its count and sha256.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, delete, func, select, tuple_

from monitoring_pipeline.dnb.identifiers import validate_reference
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.storage.local_files import (
    atomic_write_bytes,
    remove_empty_directory,
    remove_stale_files,
    same_bytes,
    sha256_bytes,
    sha256_file,
)
from monitoring_pipeline.storage.schema import (
    dnb_file_manifest,
    dnb_landed_notifications,
)
from monitoring_pipeline.storage.upsert import upsert

FORMATS = ("json", "csv", "parquet")
FORMAT_VERSION = "1.0"
STORAGE_TYPE = "local"
NOTIFICATIONS_DIR = "notifications"
FILE_PATTERN = "notifications_*"
PATHS_PREVIEW = 20

ELEMENT_COLUMNS = (
    "notification_key",
    "registration_reference",
    "duns",
    "type",
    "delivery_timestamp",
    "element",
    "previous",
    "current",
    "element_timestamp",
)
# Per-page CSV and Parquet carry the same columns and the same (string) values.
ELEMENT_SCHEMA = pa.schema([(name, pa.string()) for name in ELEMENT_COLUMNS])

_YIELD_PER = 2_000
_GROUPS_PER_QUERY = 200  # keeps bind parameters well under SQLite's limit
_MANIFEST_BATCH = 500
_ROW_GROUP_ROWS = 20_000
_COMPACT = (",", ":")
_t = dnb_landed_notifications.c
_m = dnb_file_manifest.c


@dataclass(frozen=True)
class ExportSettings:
    """Where and what to write; ``json`` is always written, ``csv``/``parquet`` on request."""

    base_path: Path
    formats: tuple[str, ...] = ("json",)
    gzip: bool = False  # JSON and CSV only: Parquet is compressed already
    destination: str = "local"  # the manifest's destination column

    def __post_init__(self) -> None:
        requested = (self.formats,) if isinstance(self.formats, str) else tuple(self.formats)
        for name in requested:
            if name not in FORMATS:
                raise ValueError(f"unknown export format {name!r}: allowed formats are {', '.join(FORMATS)}")
        # One canonical order so equal settings name equal files.
        object.__setattr__(self, "formats", tuple(f for f in FORMATS if f == "json" or f in requested))
        object.__setattr__(self, "base_path", Path(self.base_path))

    def suffix(self, fmt: str) -> str:
        if fmt == "parquet":
            return ".parquet"
        return f".{fmt}.gz" if self.gzip else f".{fmt}"


@dataclass
class ExportResult:
    """What one export did, for run metadata. ``notifications``/``groups`` count what was rendered."""

    files_written: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    bytes_written: int = 0
    notifications: int = 0
    groups: int = 0
    groups_skipped: int = 0  # incremental: up to date per the manifest, payloads not read
    rows: int = 0  # tabular rows written (company changes)
    paths: list[str] = field(default_factory=list)  # the first PATHS_PREVIEW relative paths written
    seconds: float = 0.0

    def wrote(self, relative: str, size: int) -> None:
        self.files_written += 1
        self.bytes_written += size
        if len(self.paths) < PATHS_PREVIEW:
            self.paths.append(relative)


class _Group(NamedTuple):
    """One page of one registration as the aggregate query sees it."""

    reference: str
    instant: datetime  # the deliveryTimeStamp at millisecond precision: names the files
    exact: tuple[datetime, ...]  # stored values falling in that millisecond (normally one)
    count: int


class _ManifestEntry(NamedTuple):
    count: int
    size: int
    sha256: str


# ---- paths -----------------------------------------------------------------------------------------


def day_prefix(day: date) -> str:
    """The day's directory relative to the base path, e.g. ``notifications/2026/11/20``."""
    return f"{NOTIFICATIONS_DIR}/{day:%Y/%m/%d}"


def group_stem(instant: datetime) -> str:
    """``notifications_YYYYMMDD_HHMMSS_NNN`` for a page delivered at ``instant`` (UTC, milliseconds)."""
    moment = instant.astimezone(UTC)
    return f"notifications_{moment:%Y%m%d_%H%M%S}_{moment.microsecond // 1000:03d}"


def group_paths(settings: ExportSettings, day: date, reference: str, instant: datetime) -> list[str]:
    """Relative paths of a page's files, one per configured format."""
    stem = f"{day_prefix(day)}/{validate_reference(reference)}/{group_stem(instant)}"
    return [stem + settings.suffix(fmt) for fmt in settings.formats]


def day_files(settings: ExportSettings, day: date) -> list[Path]:
    """Notification files of ``day`` on disk (temporary files excluded), sorted."""
    root = settings.base_path / day_prefix(day)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"*/{FILE_PATTERN}") if p.is_file() and not p.name.startswith("."))


# ---- rendering -------------------------------------------------------------------------------------


def _to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=_COMPACT)


def deterministic_gzip(data: bytes) -> bytes:
    # mtime=0 and no file name: equal input gives equal bytes.
    return gzip.compress(data, compresslevel=6, mtime=0)


def _render_json(reference: str, instant: datetime, notifications: list[Any]) -> bytes:
    """The seed's JSON format: an indented ``metadata`` header, then one notification per line.

    Each notification goes through the C encoder in one call; ``indent=`` on the whole document would
    use Python's pure-Python encoder, several times slower on a day of pages.
    """
    metadata = {
        "export_timestamp": format_millis(instant),
        "notification_count": len(notifications),
        "format_version": FORMAT_VERSION,
        "storage_type": STORAGE_TYPE,
        "registration_reference": reference,
    }
    header = json.dumps(metadata, indent=2, ensure_ascii=False).replace("\n", "\n  ")
    lines = ",\n    ".join(json.dumps(n, ensure_ascii=False, separators=(",", ":")) for n in notifications)
    body = f"[\n    {lines}\n  ]" if notifications else "[]"
    return f'{{\n  "metadata": {header},\n  "notifications": {body}\n}}\n'.encode()


def _element_rows(reference: str, rows: Sequence[Any], notifications: list[Any]) -> list[tuple[str | None, ...]]:
    """One row per element change; a notification without elements gets one row with empty element columns."""
    table: list[tuple[str | None, ...]] = []
    for row, notification in zip(rows, notifications, strict=True):
        head = (row.notification_key, reference, row.duns, row.notification_type, format_millis(row.delivery_ts))
        elements = notification.get("elements") or []
        if not elements:
            table.append(head + (None, None, None, None))
        for element in elements:
            table.append(
                head
                + (
                    element.get("element"),
                    _compact(element.get("previous")),
                    _compact(element.get("current")),
                    element.get("timestamp"),
                )
            )
    return table


def _render_csv(table: list[tuple[str | None, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ELEMENT_COLUMNS)
    writer.writerows(table)
    return buffer.getvalue().encode("utf-8")


def _render_parquet(table: list[tuple[str | None, ...]]) -> bytes:
    """Snappy Parquet with a fixed schema and no pandas index.

    Byte-identical for equal rows under one pyarrow version (the file holds no clock value; its
    ``created_by`` names the pyarrow version, so an upgrade rewrites each file once on rebuild).
    """
    columns = list(zip(*table, strict=True)) if table else [()] * len(ELEMENT_COLUMNS)
    arrow = pa.table([pa.array(c, pa.string()) for c in columns], schema=ELEMENT_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


def render_group(
    settings: ExportSettings, day: date, reference: str, instant: datetime, rows: Sequence[Any]
) -> list[tuple[str, bytes]]:
    """The page's files as (relative path, bytes), one per format; ``rows`` in file order."""
    notifications = [json.loads(row.payload) for row in rows]
    rendered: dict[str, bytes] = {"json": _render_json(reference, instant, notifications)}
    if "csv" in settings.formats or "parquet" in settings.formats:
        table = _element_rows(reference, rows, notifications)
        if "csv" in settings.formats:
            rendered["csv"] = _render_csv(table)
        if "parquet" in settings.formats:
            rendered["parquet"] = _render_parquet(table)
    if settings.gzip:
        rendered = {fmt: data if fmt == "parquet" else deterministic_gzip(data) for fmt, data in rendered.items()}
    paths = group_paths(settings, day, reference, instant)
    return [(path, rendered[fmt]) for path, fmt in zip(paths, settings.formats, strict=True)]


# ---- database --------------------------------------------------------------------------------------


def _day_groups(engine: Engine, day: date) -> list[_Group]:
    """The day's pages with their notification counts: one aggregate query, no payloads."""
    statement = (
        select(_t.reference, _t.delivery_ts, func.count())
        .where(_t.delivery_day == day)
        .group_by(_t.reference, _t.delivery_ts)
        .order_by(_t.reference, _t.delivery_ts)
    )
    with engine.connect() as connection:
        counted = connection.execute(statement).all()
    groups: list[_Group] = []
    for (reference, instant), members in groupby(counted, key=lambda r: (r[0], _to_millis(r[1]))):
        parts = list(members)
        groups.append(_Group(reference, instant, tuple(p[1] for p in parts), sum(p[2] for p in parts)))
    return groups


def _stream_groups(
    engine: Engine, day: date, selected: list[_Group] | None
) -> Iterator[tuple[str, datetime, list[Any]]]:
    """Yield (reference, instant, rows in file order) for the whole day or only ``selected`` pages.

    Rows are streamed; only one page is held in memory at a time.
    """
    statement = (
        select(
            _t.reference,
            _t.delivery_ts,
            _t.page_position,
            _t.notification_key,
            _t.duns,
            _t.notification_type,
            _t.payload,
        )
        .where(_t.delivery_day == day)
        .order_by(_t.reference, _t.delivery_ts, _t.page_position, _t.notification_key)
    )
    if selected is None:
        statements = [statement]
    else:
        statements = [
            statement.where(
                tuple_(_t.reference, _t.delivery_ts).in_([(g.reference, exact) for g in chunk for exact in g.exact])
            )
            for chunk in _chunks(selected, _GROUPS_PER_QUERY)
        ]
    with engine.connect() as connection:
        streaming = connection.execution_options(yield_per=_YIELD_PER)
        for chunk_statement in statements:
            result = streaming.execute(chunk_statement)
            for (reference, instant), members in groupby(
                result, key=lambda r: (r.reference, _to_millis(r.delivery_ts))
            ):
                # Sub-millisecond instants share one file; order it by page position as for a single page.
                yield reference, instant, sorted(members, key=lambda r: (r.page_position, r.notification_key))


def _chunks(items: list[_Group], size: int) -> Iterator[list[_Group]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _manifest_for_day(engine: Engine, settings: ExportSettings, day: date) -> dict[str, _ManifestEntry]:
    statement = select(_m.path, _m.notification_count, _m.bytes, _m.sha256).where(
        _m.destination == settings.destination,
        _m.delivery_day == day,
        _m.path.startswith(day_prefix(day) + "/", autoescape=True),
    )
    with engine.connect() as connection:
        return {
            row.path: _ManifestEntry(row.notification_count, row.bytes, row.sha256)
            for row in connection.execute(statement)
        }


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
        if len(self._pending) >= _MANIFEST_BATCH:
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
            for start in range(0, len(ordered), _MANIFEST_BATCH):
                connection.execute(
                    delete(dnb_file_manifest).where(
                        _m.destination == self._destination,
                        _m.path.in_(ordered[start : start + _MANIFEST_BATCH]),
                    )
                )


# ---- exports ---------------------------------------------------------------------------------------


def _is_current(settings: ExportSettings, day: date, group: _Group, manifest: dict[str, _ManifestEntry]) -> bool:
    for relative in group_paths(settings, day, group.reference, group.instant):
        entry = manifest.get(relative)
        if entry is None or entry.count != group.count or not (settings.base_path / relative).is_file():
            return False
    return True


def _write_if_changed(
    settings: ExportSettings,
    relative: str,
    reference: str,
    count: int,
    data: bytes,
    manifest: dict[str, _ManifestEntry],
    writer: ManifestWriter,
    result: ExportResult,
) -> None:
    digest = sha256_bytes(data)
    path = settings.base_path / relative
    if same_bytes(path, data):
        result.files_unchanged += 1
        if manifest.get(relative) == (count, len(data), digest):
            return
    else:
        atomic_write_bytes(path, data)
        result.wrote(relative, len(data))
    writer.add(relative, reference, count, len(data), digest)


def export_day(engine: Engine, settings: ExportSettings, day: date, *, rebuild: bool) -> ExportResult:
    """Write ``day``'s page files; incremental by default, a full rebuild with ``rebuild=True``.

    Incremental renders only pages missing from the manifest, whose count changed, or whose file
    is gone. Rebuild renders every page, rewrites only files whose bytes differ, then deletes the
    day's files and manifest rows that no page produced. Both stream rows; memory stays flat.
    """
    started = time.monotonic()
    result = ExportResult()
    manifest = _manifest_for_day(engine, settings, day)
    if rebuild:
        selected: list[_Group] | None = None
    else:
        groups = _day_groups(engine, day)
        selected = [g for g in groups if not _is_current(settings, day, g, manifest)]
        result.groups_skipped = len(groups) - len(selected)

    produced: set[str] = set()
    writer = ManifestWriter(engine, settings.destination, day)
    try:
        if selected is None or selected:
            with closing(_stream_groups(engine, day, selected)) as stream:
                for reference, instant, rows in stream:
                    result.groups += 1
                    result.notifications += len(rows)
                    for relative, data in render_group(settings, day, reference, instant, rows):
                        produced.add(relative)
                        _write_if_changed(settings, relative, reference, len(rows), data, manifest, writer, result)
    finally:
        # Files already on disk get their rows even if a later page fails: the next run skips them.
        writer.flush()

    if rebuild:
        result.files_removed = _remove_stale(settings, day, produced)
        writer.delete(set(manifest) - produced)
    result.seconds = time.monotonic() - started
    return result


def _remove_stale(settings: ExportSettings, day: date, produced: set[str]) -> int:
    """Delete the day's notification files no page produced; drop emptied reference directories."""
    root = settings.base_path / day_prefix(day)
    if not root.is_dir():
        return 0
    keep: dict[str, set[str]] = {}
    for relative in produced:
        path = PurePosixPath(relative)
        keep.setdefault(path.parent.name, set()).add(path.name)
    removed = 0
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        gone = remove_stale_files(directory, keep.get(directory.name, set()), FILE_PATTERN)
        removed += sum(1 for p in gone if not p.name.startswith("."))
        remove_empty_directory(directory)
    return removed


def verify_day(engine: Engine, settings: ExportSettings, day: date, *, checksums: bool = True) -> list[str]:
    """Problems with ``day``'s files: missing or altered files, unrecorded files, counts that disagree.

    Without ``checksums`` an altered file is caught by its size only: what a landing-triggered run
    can afford, since hashing every file of the day would make its cost follow the day.
    """
    manifest = _manifest_for_day(engine, settings, day)
    problems: list[str] = []
    for relative, entry in sorted(manifest.items()):
        path = settings.base_path / relative
        if not path.is_file():
            problems.append(f"{relative}: in the manifest but missing on disk")
        elif path.stat().st_size != entry.size:
            problems.append(f"{relative}: size differs from the manifest")
        elif checksums and sha256_file(path) != entry.sha256:
            problems.append(f"{relative}: sha256 differs from the manifest")
    for path in day_files(settings, day):
        relative = path.relative_to(settings.base_path).as_posix()
        if relative not in manifest:
            problems.append(f"{relative}: on disk but not in the manifest")
    expected: set[str] = set()
    for group in _day_groups(engine, day):
        for relative in group_paths(settings, day, group.reference, group.instant):
            expected.add(relative)
            entry = manifest.get(relative)
            if entry is None:
                problems.append(f"{relative}: {group.count} landed notifications not exported")
            elif entry.count != group.count:
                problems.append(f"{relative}: {entry.count} notifications exported, {group.count} landed")
    for relative in sorted(set(manifest) - expected):
        problems.append(f"{relative}: in the manifest but no landed notifications belong to it")
    return problems
