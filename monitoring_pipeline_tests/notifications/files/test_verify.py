"""Checking the day's page files against the manifest and the landed store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from monitoring_pipeline.notifications.files import export_day, verify_day
from monitoring_pipeline.notifications.files.layout import group_paths
from monitoring_pipeline.notifications.snapshots import take_snapshot
from monitoring_pipeline.storage.schema import dnb_file_manifest
from monitoring_pipeline_tests.notifications.files.landed_pages import DAY, MORNING


def test_verify_day_reports_tampered_missing_unrecorded_and_unexported_files(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    assert verify_day(engine, settings, DAY) == []
    tampered, missing = (
        settings.base_path / group_paths(settings, DAY, "ALPHA", MORNING + timedelta(minutes=m))[0] for m in (0, 2)
    )
    tampered.write_bytes(tampered.read_bytes().replace(b'"type"', b'"tyqe"', 1))
    missing.unlink()
    unrecorded = tampered.with_name("notifications_20261120_000000_000.json")
    unrecorded.write_text("{}\n")
    pages.land("BRAVO", MORNING + timedelta(hours=5))

    problems = verify_day(engine, settings, DAY)

    def relative(path: Path) -> str:
        return path.relative_to(settings.base_path).as_posix()

    new_page = group_paths(settings, DAY, "BRAVO", MORNING + timedelta(hours=5))[0]
    assert problems == [
        f"{relative(tampered)}: sha256 differs from the manifest",
        f"{relative(missing)}: in the manifest but missing on disk",
        f"{relative(unrecorded)}: on disk but not in the manifest",
        f"{new_page}: 4 landed notifications not exported",
    ]
    export_day(engine, settings, DAY, rebuild=True)
    assert verify_day(engine, settings, DAY) == []


def test_verify_day_without_checksums_still_catches_size_changes_and_missing_files(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    shortened, missing = (
        settings.base_path / group_paths(settings, DAY, "ALPHA", MORNING + timedelta(minutes=m))[0] for m in (0, 2)
    )
    shortened.write_bytes(shortened.read_bytes()[:-10])
    missing.unlink()

    problems = verify_day(engine, settings, DAY, checksums=False)

    assert any("size differs from the manifest" in p for p in problems)
    assert any("missing on disk" in p for p in problems)


# ---- within a run's snapshot -----------------------------------------------------------------------


def test_pages_landed_after_the_snapshot_are_neither_exported_nor_judged(engine, pages, settings):
    snapshot = take_snapshot(engine)
    pages.land("BRAVO", MORNING + timedelta(hours=5))  # lands while the run works

    result = export_day(engine, settings, DAY, rebuild=False, snapshot=snapshot)

    assert result.groups == 7 and result.groups_skipped == 1
    assert verify_day(engine, settings, DAY, snapshot=snapshot) == []
    later = group_paths(settings, DAY, "BRAVO", MORNING + timedelta(hours=5))[0]
    assert verify_day(engine, settings, DAY) == [f"{later}: 4 landed notifications not exported"]  # the next run's


def test_a_page_that_grew_after_the_snapshot_holds_at_least_what_the_snapshot_had(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    snapshot = take_snapshot(engine)
    grown_at = MORNING + timedelta(minutes=1)
    pages.land("BRAVO", grown_at, count=3)  # a replay healing part of a page, while the run works

    assert verify_day(engine, settings, DAY, snapshot=snapshot) == []
    export_day(engine, settings, DAY, rebuild=False)  # a newer run rewrites the page with all 7
    assert verify_day(engine, settings, DAY, snapshot=snapshot) == []
    relative = group_paths(settings, DAY, "BRAVO", grown_at)[0]
    _record_count(engine, relative, 3)  # fewer than the snapshot had: a real problem
    assert verify_day(engine, settings, DAY, snapshot=snapshot) == [
        f"{relative}: 3 notifications exported, 4 to 7 landed"
    ]


def test_a_rebuild_keeps_the_files_of_pages_landed_after_its_snapshot(engine, pages, settings):
    older = take_snapshot(engine)
    pages.land("CHARLIE", MORNING + timedelta(hours=6))
    export_day(engine, settings, DAY, rebuild=False)  # a newer run writes CHARLIE's page

    rebuilt = export_day(engine, settings, DAY, rebuild=True, snapshot=older)

    assert rebuilt.files_removed == 0
    assert (settings.base_path / group_paths(settings, DAY, "CHARLIE", MORNING + timedelta(hours=6))[0]).is_file()
    assert verify_day(engine, settings, DAY) == []


def _record_count(engine, relative: str, count: int) -> None:
    with engine.begin() as connection:
        connection.execute(update(dnb_file_manifest).where(dnb_file_manifest.c.path == relative)
                           .values(notification_count=count))
