"""Writing the day's page files: same names and bytes on re-materialization, incremental, healing."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.files import ExportSettings, export_day, verify_day
from monitoring_pipeline.notifications.files.layout import day_files, group_paths
from monitoring_pipeline.storage.schema import dnb_file_manifest, dnb_landed_notifications
from monitoring_pipeline_tests.notifications.files.landed_pages import (
    DAY,
    MORNING,
    Pages,
    day_pages_landed,
    file_stats,
    files_of,
    manifest_counts,
    temp_files,
)

# ---- names, contents, idempotency ------------------------------------------------------------------


def test_one_json_file_per_page_named_after_its_delivery_timestamp_with_the_seed_header(engine, pages, settings):
    result = export_day(engine, settings, DAY, rebuild=False)

    expected = day_pages_landed(pages)
    assert (result.groups, result.files_written, result.notifications) == (7, 7, 29)
    files = files_of(settings)
    assert sorted(files) == sorted(
        f"notifications/2026/11/20/{reference}/notifications_{at:%Y%m%d_%H%M%S}_{at.microsecond // 1000:03d}.json"
        for reference, at in expected
    )
    assert "notifications/2026/11/20/ALPHA/notifications_20261120_091502_345.json" in files
    for (reference, at), notifications in expected.items():
        [relative] = group_paths(settings, DAY, reference, at)
        text = files[relative].decode("utf-8")
        document = json.loads(text)
        assert document["metadata"] == {
            "export_timestamp": format_millis(at),
            "notification_count": len(notifications),
            "format_version": "1.0",
            "storage_type": "local",
            "registration_reference": reference,
        }
        assert document["notifications"] == notifications  # as landed, in page order
        assert [list(n) for n in document["notifications"]] == [list(n) for n in notifications]  # D&B's field order
        assert text.startswith('{\n  "metadata": {\n    "export_timestamp"') and text.endswith("}\n")
    unicode_file = files[group_paths(settings, DAY, "ALPHA", MORNING + timedelta(minutes=10))[0]]
    assert "Café Zürich AG".encode() in unicode_file  # UTF-8, not \u escapes
    assert manifest_counts(engine) == {
        group_paths(settings, DAY, ref, at)[0]: len(notes) for (ref, at), notes in expected.items()
    }


def test_rebuilding_twice_gives_identical_files_and_writes_nothing_the_second_time(engine, pages, settings):
    first = export_day(engine, settings, DAY, rebuild=True)
    before, stats = files_of(settings), file_stats(settings)

    second = export_day(engine, settings, DAY, rebuild=True)
    incremental = export_day(engine, settings, DAY, rebuild=False)

    assert (first.files_written, first.files_unchanged) == (7, 0)
    assert (second.files_written, second.files_unchanged, second.files_removed, second.bytes_written) == (0, 7, 0, 0)
    assert (incremental.files_written, incremental.groups, incremental.groups_skipped) == (0, 0, 7)
    assert files_of(settings) == before and file_stats(settings) == stats
    assert temp_files(settings) == []
    assert verify_day(engine, settings, DAY) == []


def test_the_same_data_in_another_base_path_gives_the_same_bytes(engine, pages, tmp_path):
    one = ExportSettings(tmp_path / "one", formats=("json", "csv", "parquet"))
    two = ExportSettings(tmp_path / "two", formats=("parquet", "csv"))

    export_day(engine, one, DAY, rebuild=True)
    export_day(engine, two, DAY, rebuild=False)

    assert len(files_of(one)) == 21
    assert files_of(one) == files_of(two)


# ---- incremental -----------------------------------------------------------------------------------


def test_incremental_writes_only_new_pages_without_reading_unchanged_ones(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    stats = file_stats(settings)
    untouched = group_paths(settings, DAY, "ALPHA", MORNING)[0]
    untouched_bytes = (settings.base_path / untouched).read_bytes()
    # Corrupt an already exported page's payload in the store: an incremental run must not even read it.
    with engine.begin() as connection:
        connection.execute(
            update(dnb_landed_notifications)
            .where(dnb_landed_notifications.c.reference == "ALPHA", dnb_landed_notifications.c.delivery_ts == MORNING)
            .values(payload='{"tampered": true}')
        )
    pages.land("BRAVO", MORNING + timedelta(hours=2))
    pages.land("CHARLIE", MORNING + timedelta(hours=3), count=2)

    result = export_day(engine, settings, DAY, rebuild=False)

    assert (result.files_written, result.groups, result.groups_skipped, result.notifications) == (2, 2, 7, 6)
    assert sorted(result.paths) == sorted(
        group_paths(settings, DAY, ref, MORNING + timedelta(hours=h))[0] for ref, h in (("BRAVO", 2), ("CHARLIE", 3))
    )
    assert {name: stat for name, stat in file_stats(settings).items() if name in stats} == stats
    assert (settings.base_path / untouched).read_bytes() == untouched_bytes
    # A rebuild renders every page, so it does pick up the (here: tampered) stored payload.
    assert export_day(engine, settings, DAY, rebuild=True).files_written == 1


def test_a_page_that_gains_notifications_is_rewritten_and_a_lost_file_is_restored(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    grown_at = MORNING + timedelta(minutes=1)
    pages.land("BRAVO", grown_at, count=3)  # e.g. a replay healing part of a page
    lost = settings.base_path / group_paths(settings, DAY, "ALPHA", MORNING)[0]
    lost_bytes = lost.read_bytes()
    lost.unlink()

    result = export_day(engine, settings, DAY, rebuild=False)

    assert (result.files_written, result.groups_skipped) == (2, 5)
    assert lost.read_bytes() == lost_bytes
    grown = json.loads((settings.base_path / group_paths(settings, DAY, "BRAVO", grown_at)[0]).read_text())
    assert grown["metadata"]["notification_count"] == 7
    # Two landings of one page: merged in (page_position, notification_key) order.
    assert sorted(map(json.dumps, grown["notifications"])) == sorted(map(json.dumps, pages.landed[("BRAVO", grown_at)]))
    assert verify_day(engine, settings, DAY) == []


def test_many_pages_span_several_queries_and_manifest_batches(engine, settings, tmp_path):
    landed = Pages(engine)
    for index in range(230):
        landed.land(f"R{index % 3}", MORNING + timedelta(seconds=index), count=1)
    wide = ExportSettings(settings.base_path, formats=("json", "csv", "parquet"))

    incremental = export_day(engine, wide, DAY, rebuild=False)
    rebuilt = export_day(engine, wide, DAY, rebuild=True)

    assert (incremental.groups, incremental.files_written, len(incremental.paths)) == (230, 690, 20)
    assert (rebuilt.files_written, rebuilt.files_unchanged) == (0, 690)
    assert len(manifest_counts(engine)) == 690
    assert verify_day(engine, wide, DAY) == []


# ---- rebuild ---------------------------------------------------------------------------------------


def test_rebuild_after_deleting_the_day_restores_identical_bytes(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=True)
    before = files_of(settings)
    shutil.rmtree(settings.base_path / "notifications" / "2026" / "11" / "20")

    result = export_day(engine, settings, DAY, rebuild=True)

    assert (result.files_written, result.files_unchanged) == (7, 0)
    assert files_of(settings) == before


def test_rebuild_removes_stale_files_their_manifest_rows_and_emptied_directories(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=True)
    day_dir = settings.base_path / "notifications" / "2026" / "11" / "20"
    stray = day_dir / "ALPHA" / "notifications_20261120_000000_000.json"
    stray.write_text("{}\n")
    young_temp = day_dir / "ALPHA" / ".notifications_20261120_235959_999.json.1-2.tmp"
    young_temp.write_text("{")  # may belong to a writer still running: left alone
    old_temp = day_dir / "ALPHA" / ".notifications_20261120_235959_998.json.1-2.tmp"
    old_temp.write_text("{")
    os.utime(old_temp, (0, 0))
    with engine.begin() as connection:  # BRAVO's notifications are gone from the store
        connection.execute(delete(dnb_landed_notifications).where(dnb_landed_notifications.c.reference == "BRAVO"))
    other_day = export_day(engine, settings, DAY + timedelta(days=1), rebuild=True)

    result = export_day(engine, settings, DAY, rebuild=True)

    assert (result.files_removed, result.files_unchanged, result.files_written) == (4, 4, 0)
    assert not (day_dir / "BRAVO").exists() and not stray.exists() and not old_temp.exists() and young_temp.exists()
    assert not any("BRAVO" in path for path in manifest_counts(engine))
    assert len(manifest_counts(engine)) == 4 + other_day.files_written  # the next day's rows are untouched
    young_temp.unlink()
    assert verify_day(engine, settings, DAY) == []


def test_dropping_a_format_and_rebuilding_removes_its_files(engine, pages, settings):
    wide = ExportSettings(settings.base_path, formats=("json", "csv"))
    export_day(engine, wide, DAY, rebuild=True)

    result = export_day(engine, settings, DAY, rebuild=True)

    assert (result.files_removed, result.files_unchanged) == (7, 7)
    assert all(p.suffix == ".json" for p in day_files(settings, DAY))
    assert all(path.endswith(".json") for path in manifest_counts(engine))


def test_a_day_without_notifications_is_empty_and_a_rebuild_clears_it(engine, settings):
    empty = export_day(engine, settings, DAY, rebuild=False)
    assert (empty.files_written, empty.groups, empty.paths) == (0, 0, [])

    stale = (
        settings.base_path / "notifications" / "2026" / "11" / "20" / "GONE" / "notifications_20261120_000000_000.json"
    )
    stale.parent.mkdir(parents=True)
    stale.write_text("{}\n")
    with engine.begin() as connection:
        connection.execute(
            insert(dnb_file_manifest).values(
                destination="local",
                path=stale.relative_to(settings.base_path).as_posix(),
                delivery_day=DAY,
                reference="GONE",
                notification_count=1,
                bytes=3,
                sha256="0" * 64,
                written_at=MORNING,
            )
        )

    rebuilt = export_day(engine, settings, DAY, rebuild=True)

    assert (rebuilt.files_removed, rebuilt.files_written) == (1, 0)
    assert not stale.parent.exists() and manifest_counts(engine) == {}


# ---- crashes ---------------------------------------------------------------------------------------


def test_a_crash_mid_export_leaves_no_partial_file_and_the_next_run_heals(
    engine, pages, settings, tmp_path, monkeypatch
):
    real_replace = os.replace
    calls = {"n": 0}

    def replace_then_die(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("simulated crash while renaming")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(OSError, match="simulated crash"):
        export_day(engine, settings, DAY, rebuild=False)
    monkeypatch.undo()

    survivors = day_files(settings, DAY)
    assert len(survivors) == 3 and temp_files(settings) == []
    for path in survivors:
        assert json.loads(path.read_text())["notifications"]  # whole files only

    healed = export_day(engine, settings, DAY, rebuild=False)
    reference = ExportSettings(tmp_path / "reference")
    export_day(engine, reference, DAY, rebuild=True)

    # The three files renamed before the crash were recorded, so only the other four pages are rendered.
    assert (healed.groups_skipped, healed.files_written) == (3, 4)
    assert files_of(settings) == files_of(reference)
    assert verify_day(engine, settings, DAY) == []
