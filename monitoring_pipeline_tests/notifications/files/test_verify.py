"""Checking the day's page files against the manifest and the landed store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitoring_pipeline.notifications.files import export_day, verify_day
from monitoring_pipeline.notifications.files.layout import group_paths
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
