"""Date-organised notification files: same names and bytes on re-materialization, incremental, healing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, delete, insert, select, update

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator
from monitoring_pipeline.notifications.exports import (
    ELEMENT_COLUMNS,
    ExportSettings,
    day_files,
    export_day,
    group_paths,
    verify_day,
)
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.storage.schema import (
    dnb_file_manifest,
    dnb_landed_notifications,
    dnb_notification_elements,
    dnb_notifications,
)

DAY = date(2026, 11, 20)
MORNING = datetime(2026, 11, 20, 9, 15, 2, 345000, tzinfo=UTC)
MIXED_TYPES = {"UPDATE": 0.6, "SEED": 0.2, "DELETE": 0.1, "TRANSFER": 0.1}
UNICODE_NOTIFICATION = {
    "type": "UPDATE",
    "organization": {"duns": "001017545"},
    "elements": [
        {
            "element": "organization.primaryName",
            "previous": "Cafe Zurich AG",
            "current": "Café Zürich AG",
            "timestamp": "2026-11-19T01:23:13Z",
        },
        {
            "element": "organization.numberOfEmployees",
            "previous": None,
            "current": [{"value": 12}],
            "timestamp": "2026-11-19T01:23:14Z",
        },
    ],
}


@dataclass
class Pages:
    """Lands realistic pages and remembers what each page held, in page order."""

    engine: Engine
    generator: NotificationGenerator = field(default_factory=lambda: NotificationGenerator(seed=1, seed_block_kb=1))
    landed: dict[tuple[str, datetime], list[dict[str, Any]]] = field(default_factory=dict)

    def land(self, reference: str, at: datetime, count: int = 4, extra: list[dict[str, Any]] | None = None) -> None:
        notifications = self.generator.generate(count, at, types=MIXED_TYPES) + list(extra or [])
        for notification in notifications:
            notification["deliveryTimeStamp"] = format_millis(at)
        land_page(self.engine, NotificationPage(reference, notifications, "rrt", "pull"))
        self.landed.setdefault((reference, at), []).extend(notifications)


@pytest.fixture
def pages(engine: Engine) -> Pages:
    """Two registrations with three pages each on DAY, and one page on the next day."""
    landed = Pages(engine)
    for minute, reference in enumerate(["ALPHA", "BRAVO", "ALPHA", "BRAVO", "ALPHA", "BRAVO"]):
        landed.land(reference, MORNING + timedelta(minutes=minute))
    landed.land("ALPHA", MORNING + timedelta(minutes=10), extra=[UNICODE_NOTIFICATION])
    landed.land("ALPHA", MORNING + timedelta(days=1))
    return landed


@pytest.fixture
def settings(tmp_path: Path) -> ExportSettings:
    return ExportSettings(base_path=tmp_path / "out")


def _snapshot(settings: ExportSettings, day: date = DAY) -> dict[str, bytes]:
    return {p.relative_to(settings.base_path).as_posix(): p.read_bytes() for p in day_files(settings, day)}


def _stats(settings: ExportSettings) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in day_files(settings, DAY)}


def _manifest(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(dnb_file_manifest.c.path, dnb_file_manifest.c.notification_count))
        return dict(rows.tuples().all())


def _temp_files(settings: ExportSettings) -> list[Path]:
    return sorted(settings.base_path.rglob("*.tmp"))


def _day_pages(pages: Pages, day: date = DAY) -> dict[tuple[str, datetime], list[dict[str, Any]]]:
    return {key: notes for key, notes in pages.landed.items() if key[1].date() == day}


# ---- names, contents, idempotency ------------------------------------------------------------------


def test_one_json_file_per_page_named_after_its_delivery_timestamp_with_the_seed_header(engine, pages, settings):
    result = export_day(engine, settings, DAY, rebuild=False)

    expected = _day_pages(pages)
    assert (result.groups, result.files_written, result.notifications) == (7, 7, 29)
    files = _snapshot(settings)
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
    assert _manifest(engine) == {
        group_paths(settings, DAY, ref, at)[0]: len(notes) for (ref, at), notes in expected.items()
    }


def test_rebuilding_twice_gives_identical_files_and_writes_nothing_the_second_time(engine, pages, settings):
    first = export_day(engine, settings, DAY, rebuild=True)
    before, stats = _snapshot(settings), _stats(settings)

    second = export_day(engine, settings, DAY, rebuild=True)
    incremental = export_day(engine, settings, DAY, rebuild=False)

    assert (first.files_written, first.files_unchanged) == (7, 0)
    assert (second.files_written, second.files_unchanged, second.files_removed, second.bytes_written) == (0, 7, 0, 0)
    assert (incremental.files_written, incremental.groups, incremental.groups_skipped) == (0, 0, 7)
    assert _snapshot(settings) == before and _stats(settings) == stats
    assert _temp_files(settings) == []
    assert verify_day(engine, settings, DAY) == []


def test_the_same_data_in_another_base_path_gives_the_same_bytes(engine, pages, tmp_path):
    one = ExportSettings(tmp_path / "one", formats=("json", "csv", "parquet"))
    two = ExportSettings(tmp_path / "two", formats=("parquet", "csv"))

    export_day(engine, one, DAY, rebuild=True)
    export_day(engine, two, DAY, rebuild=False)

    assert len(_snapshot(one)) == 21
    assert _snapshot(one) == _snapshot(two)


# ---- incremental -----------------------------------------------------------------------------------


def test_incremental_writes_only_new_pages_without_reading_unchanged_ones(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=False)
    stats = _stats(settings)
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
    assert {name: stat for name, stat in _stats(settings).items() if name in stats} == stats
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
    assert len(_manifest(engine)) == 690
    assert verify_day(engine, wide, DAY) == []


# ---- rebuild ---------------------------------------------------------------------------------------


def test_rebuild_after_deleting_the_day_restores_identical_bytes(engine, pages, settings):
    export_day(engine, settings, DAY, rebuild=True)
    before = _snapshot(settings)
    shutil.rmtree(settings.base_path / "notifications" / "2026" / "11" / "20")

    result = export_day(engine, settings, DAY, rebuild=True)

    assert (result.files_written, result.files_unchanged) == (7, 0)
    assert _snapshot(settings) == before


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
    assert not any("BRAVO" in path for path in _manifest(engine))
    assert len(_manifest(engine)) == 4 + other_day.files_written  # the next day's rows are untouched
    young_temp.unlink()
    assert verify_day(engine, settings, DAY) == []


def test_dropping_a_format_and_rebuilding_removes_its_files(engine, pages, settings):
    wide = ExportSettings(settings.base_path, formats=("json", "csv"))
    export_day(engine, wide, DAY, rebuild=True)

    result = export_day(engine, settings, DAY, rebuild=True)

    assert (result.files_removed, result.files_unchanged) == (7, 7)
    assert all(p.suffix == ".json" for p in day_files(settings, DAY))
    assert all(path.endswith(".json") for path in _manifest(engine))


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
    assert not stale.parent.exists() and _manifest(engine) == {}


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
    assert len(survivors) == 3 and _temp_files(settings) == []
    for path in survivors:
        assert json.loads(path.read_text())["notifications"]  # whole files only

    healed = export_day(engine, settings, DAY, rebuild=False)
    reference = ExportSettings(tmp_path / "reference")
    export_day(engine, reference, DAY, rebuild=True)

    # The three files renamed before the crash were recorded, so only the other four pages are rendered.
    assert (healed.groups_skipped, healed.files_written) == (3, 4)
    assert _snapshot(settings) == _snapshot(reference)
    assert verify_day(engine, settings, DAY) == []


# ---- formats ---------------------------------------------------------------------------------------


def _expected_element_rows(pages: Pages) -> list[dict[str, str]]:
    with pages.engine.connect() as connection:
        keys = {
            (row.reference, row.delivery_ts, row.page_position): row.notification_key
            for row in connection.execute(select(dnb_landed_notifications))
        }
    rows = []
    for (reference, at), notifications in sorted(_day_pages(pages).items()):
        for position, notification in enumerate(notifications):
            head = {
                "notification_key": keys[(reference, at, position)],
                "registration_reference": reference,
                "duns": notification["organization"]["duns"],
                "type": notification["type"],
                "delivery_timestamp": format_millis(at),
            }
            elements = notification.get("elements") or []
            if not elements:
                rows.append({**head, "element": "", "previous": "", "current": "", "element_timestamp": ""})
            for element in elements:
                rows.append(
                    {
                        **head,
                        "element": element["element"],
                        "previous": json.dumps(element["previous"], ensure_ascii=False, separators=(",", ":")),
                        "current": json.dumps(element["current"], ensure_ascii=False, separators=(",", ":")),
                        "element_timestamp": element["timestamp"],
                    }
                )
    return rows


def _read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_and_parquet_hold_one_row_per_element_change(sqlite_engine, tmp_path):
    pages = Pages(sqlite_engine)
    for minute, reference in enumerate(["ALPHA", "BRAVO", "ALPHA"]):
        pages.land(reference, MORNING + timedelta(minutes=minute), count=6)
    pages.land("ALPHA", MORNING + timedelta(minutes=10), extra=[UNICODE_NOTIFICATION])
    settings = ExportSettings(tmp_path / "out", formats=("csv", "parquet"))

    export_day(sqlite_engine, settings, DAY, rebuild=True)

    files = _snapshot(settings)
    csv_rows: list[dict[str, str]] = []
    parquet_rows: list[dict[str, str]] = []
    for relative in sorted(files):
        if relative.endswith(".csv"):
            assert files[relative].startswith((",".join(ELEMENT_COLUMNS) + "\n").encode())
            csv_rows += _read_csv(files[relative])
        elif relative.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(files[relative]))
            assert table.column_names == list(ELEMENT_COLUMNS)
            assert b"pandas" not in (table.schema.metadata or {})
            assert pq.ParquetFile(io.BytesIO(files[relative])).metadata.row_group(0).column(0).compression == "SNAPPY"
            parquet_rows += [{k: "" if v is None else v for k, v in row.items()} for row in table.to_pylist()]
    expected = _expected_element_rows(pages)
    assert any(row["element"] == "" for row in expected) and any(row["element"] for row in expected)
    assert csv_rows == expected
    assert parquet_rows == expected
    unicode_row = next(row for row in csv_rows if row["current"] == '"Café Zürich AG"')
    assert unicode_row["previous"] == '"Cafe Zurich AG"'
    assert any(row["previous"] == "null" and row["current"] == '[{"value":12}]' for row in csv_rows)


def test_gzip_output_is_deterministic_and_decompresses_to_the_plain_files(sqlite_engine, tmp_path):
    pages = Pages(sqlite_engine)
    pages.land("ALPHA", MORNING)
    pages.land("ALPHA", MORNING + timedelta(minutes=1))
    plain = ExportSettings(tmp_path / "plain", formats=("json", "csv"))
    zipped = ExportSettings(tmp_path / "zipped", formats=("json", "csv"), gzip=True)
    again = ExportSettings(tmp_path / "again", formats=("json", "csv"), gzip=True)

    for target in (plain, zipped, again):
        export_day(sqlite_engine, target, DAY, rebuild=True)

    plain_files, zipped_files = _snapshot(plain), _snapshot(zipped)
    assert sorted(zipped_files) == sorted(f"{name}.gz" for name in plain_files)
    assert zipped_files == _snapshot(again)
    for name, data in zipped_files.items():
        assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags: no file name
        assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0
        assert gzip.decompress(data) == plain_files[name.removesuffix(".gz")]
    assert export_day(sqlite_engine, zipped, DAY, rebuild=True).files_unchanged == 4


def test_settings_validate_formats_and_always_include_json(tmp_path):
    assert ExportSettings(tmp_path, formats=("parquet", "csv")).formats == ("json", "csv", "parquet")
    assert ExportSettings(tmp_path, formats=()).formats == ("json",)
    with pytest.raises(ValueError, match=r"'xml'.*json, csv, parquet"):
        ExportSettings(tmp_path, formats=("json", "xml"))
    with pytest.raises(ValueError, match="registration reference"):
        group_paths(ExportSettings(tmp_path), DAY, "../escape", MORNING)


# ---- verification ----------------------------------------------------------------------------------


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

def _insert_notification(
    engine: Engine,
    key: str,
    reference: str,
    duns: str,
    kind: str,
    at: datetime,
    elements: list[tuple[str, Any, Any, datetime | None]],
) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(dnb_notifications).values(
                notification_key=key,
                reference=reference,
                duns=duns,
                notification_type=kind,
                delivery_ts=at,
                delivery_day=at.date(),
                element_count=len(elements),
            )
        )
        for position, (element, previous, current, changed_at) in enumerate(elements):
            connection.execute(
                insert(dnb_notification_elements).values(
                    notification_key=key,
                    position=position,
                    delivery_day=at.date(),
                    duns=duns,
                    element=element,
                    previous=json.dumps(previous),
                    current=json.dumps(current),
                    changed_at=changed_at,
                )
            )


