"""Checking the day's page files against the manifest and the landed store, within a run's snapshot."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from monitoring_pipeline.notifications.files.export import page_manifest
from monitoring_pipeline.notifications.files.layout import ExportSettings, day_files, group_paths
from monitoring_pipeline.notifications.files.pages import Page, day_pages
from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.local_files import sha256_file


def verify_day(
    engine: Engine, settings: ExportSettings, day: date, *, checksums: bool = True, snapshot: Snapshot = EVERYTHING
) -> list[str]:
    """Problems with ``day``'s files: missing or altered files, unrecorded files, counts that disagree.

    Judges what ``snapshot`` reaches, never what landed after it: a page landed entirely later is not
    looked at, and a page that grew after it must hold at least what the snapshot had (its bytes may be
    mid-rewrite by a newer run, so only complete pages are compared by size and checksum).
    Without ``checksums`` an altered file is caught by its size only: what a landing-triggered run
    can afford, since hashing every file of the day would make its cost follow the day.
    """
    manifest = page_manifest(engine, settings, day)
    judged: dict[str, Page] = {}
    later: set[str] = set()
    for page in day_pages(engine, day, snapshot):
        paths = group_paths(settings, day, page.reference, page.instant)
        if page.beyond_snapshot:
            later.update(paths)
        else:
            judged.update((relative, page) for relative in paths)

    problems: list[str] = []
    for relative, entry in sorted(manifest.items()):
        if relative in later:
            continue
        path = settings.base_path / relative
        page = judged.get(relative)
        steady = page is None or page.complete_in_snapshot
        if not path.is_file():
            problems.append(f"{relative}: in the manifest but missing on disk")
        elif steady and path.stat().st_size != entry.size:
            problems.append(f"{relative}: size differs from the manifest")
        elif steady and checksums and sha256_file(path) != entry.sha256:
            problems.append(f"{relative}: sha256 differs from the manifest")
    for path in day_files(settings, day):
        relative = path.relative_to(settings.base_path).as_posix()
        if relative not in manifest and relative not in later:
            problems.append(f"{relative}: on disk but not in the manifest")
    for relative, page in judged.items():
        entry = manifest.get(relative)
        if entry is None:
            problems.append(f"{relative}: {page.in_snapshot} landed notifications not exported")
        elif not page.in_snapshot <= entry.count <= page.count:
            landed = page.count if page.complete_in_snapshot else f"{page.in_snapshot} to {page.count}"
            problems.append(f"{relative}: {entry.count} notifications exported, {landed} landed")
    for relative in sorted(set(manifest) - set(judged) - later):
        problems.append(f"{relative}: in the manifest but no landed notifications belong to it")
    return problems
