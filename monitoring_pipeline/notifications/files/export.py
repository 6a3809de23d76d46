"""Writing the day's page files: idempotent, incremental, atomic.

Every file is written atomically (temporary name, then rename) and recorded in the manifest with its
count and sha256. A run writes the pages its snapshot reaches, each with every notification landed for it.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

from sqlalchemy import Engine, update

from monitoring_pipeline.notifications.files.layout import (
    LOCAL,
    PAGE_FILE_PATTERN,
    ExportSettings,
    day_prefix,
    group_paths,
)
from monitoring_pipeline.notifications.files.manifest import ManifestRecord, ManifestWriter, day_records
from monitoring_pipeline.notifications.files.pages import Page, day_pages, stream_pages
from monitoring_pipeline.notifications.files.render import render_group
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.local_files import (
    atomic_write_bytes,
    remove_empty_directory,
    remove_stale_files,
    same_bytes,
    sha256_bytes,
)
from monitoring_pipeline.storage.schema import dnb_landed_notifications

PATHS_PREVIEW = 20


@dataclass
class ExportResult:
    """What one export did, for run metadata. ``notifications``/``groups`` count what was rendered."""

    files_written: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    bytes_written: int = 0
    notifications: int = 0
    groups: int = 0
    groups_skipped: int = 0  # incremental: up to date per the manifest (or beyond the snapshot), payloads not read
    paths: list[str] = field(default_factory=list)  # the first PATHS_PREVIEW relative paths written
    seconds: float = 0.0

    def wrote(self, relative: str, size: int) -> None:
        self.files_written += 1
        self.bytes_written += size
        if len(self.paths) < PATHS_PREVIEW:
            self.paths.append(relative)


def page_manifest(engine: Engine, settings: ExportSettings, day: date) -> dict[str, ManifestRecord]:
    """The day's page files recorded for the settings' destination."""
    return day_records(engine, settings.destination, day, [day_prefix(day)])


def _is_current(settings: ExportSettings, day: date, page: Page, manifest: dict[str, ManifestRecord]) -> bool:
    for relative in group_paths(settings, day, page.reference, page.instant):
        entry = manifest.get(relative)
        if entry is None or entry.count != page.count or not (settings.base_path / relative).is_file():
            return False
    return True


def _write_if_changed(
    settings: ExportSettings,
    relative: str,
    reference: str,
    count: int,
    data: bytes,
    manifest: dict[str, ManifestRecord],
    writer: ManifestWriter,
    result: ExportResult,
) -> None:
    digest = sha256_bytes(data)
    path = settings.base_path / relative
    if same_bytes(path, data):
        result.files_unchanged += 1
        entry = manifest.get(relative)
        if entry is not None and (entry.count, entry.size, entry.sha256) == (count, len(data), digest):
            return
    else:
        atomic_write_bytes(path, data)
        result.wrote(relative, len(data))
    writer.add(relative, reference, count, len(data), digest)


def export_day(
    engine: Engine, settings: ExportSettings, day: date, *, rebuild: bool, snapshot: Snapshot = EVERYTHING
) -> ExportResult:
    """Write ``day``'s page files; incremental by default, a full rebuild with ``rebuild=True``.

    Incremental renders only pages missing from the manifest, whose count changed, or whose file
    is gone. Rebuild renders every page, rewrites only files whose bytes differ, then deletes the
    day's files and manifest rows that no landed page produces. Both stream rows; memory stays flat.
    Pages landed entirely after ``snapshot`` are left to the next run (a rebuild keeps their files).
    """
    started = time.monotonic()
    result = ExportResult()
    manifest = page_manifest(engine, settings, day)
    if rebuild:
        selected: list[Page] | None = None
    else:
        pages = day_pages(engine, day, snapshot)
        selected = [p for p in pages if not p.beyond_snapshot and not _is_current(settings, day, p, manifest)]
        result.groups_skipped = len(pages) - len(selected)

    produced: set[str] = set()
    writer = ManifestWriter(engine, settings.destination, day)
    try:
        if selected is None or selected:
            with closing(stream_pages(engine, day, selected)) as stream:
                for reference, instant, rows in stream:
                    if not any(snapshot.holds(row.id) for row in rows):
                        continue  # landed after the snapshot: the next run's page
                    result.groups += 1
                    result.notifications += len(rows)
                    for relative, data in render_group(settings, day, reference, instant, rows):
                        produced.add(relative)
                        _write_if_changed(settings, relative, reference, len(rows), data, manifest, writer, result)
    finally:
        # Files already on disk get their rows even if a later page fails: the next run skips them.
        writer.flush()

    if rebuild:
        keep = produced | {
            relative
            for page in day_pages(engine, day, snapshot)
            if page.beyond_snapshot
            for relative in group_paths(settings, day, page.reference, page.instant)
        }
        result.files_removed = _remove_stale(settings, day, keep)
        writer.delete(set(manifest) - keep)
    if settings.destination == LOCAL:
        mark_materialized(engine, day, snapshot)
    result.seconds = time.monotonic() - started
    return result


def mark_materialized(engine: Engine, day: date, snapshot: Snapshot = EVERYTHING,
                      at: datetime | None = None) -> int:
    """Record when the day's notifications of ``snapshot`` first reached their files (the landed -> materialized
    stage of ``notifications_processing_duration_seconds``); a later rebuild keeps the first time. Reads only the
    rows not marked yet (a partial index). Returns how many were marked."""
    landed = dnb_landed_notifications.c
    with engine.begin() as connection:
        return connection.execute(
            update(dnb_landed_notifications)
            .where(landed.delivery_day == day, landed.materialized_at.is_(None), snapshot.landed(landed.id))
            .values(materialized_at=at or datetime.now(UTC))).rowcount


def _remove_stale(settings: ExportSettings, day: date, keep: set[str]) -> int:
    """Delete the day's page files not in ``keep``; drop emptied reference directories."""
    root = settings.base_path / day_prefix(day)
    if not root.is_dir():
        return 0
    kept: dict[str, set[str]] = {}
    for relative in keep:
        path = PurePosixPath(relative)
        kept.setdefault(path.parent.name, set()).add(path.name)
    removed = 0
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        gone = remove_stale_files(directory, kept.get(directory.name, set()), PAGE_FILE_PATTERN)
        removed += sum(1 for p in gone if not p.name.startswith("."))
        remove_empty_directory(directory)
    return removed
