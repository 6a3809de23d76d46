"""The bytes of page files: CSV and Parquet with one row per element change, deterministic gzip."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.files import ExportSettings, export_day
from monitoring_pipeline.notifications.files.layout import group_paths
from monitoring_pipeline.notifications.files.render import ELEMENT_COLUMNS
from monitoring_pipeline.storage.schema import dnb_landed_notifications
from monitoring_pipeline_tests.notifications.files.landed_pages import (
    DAY,
    MORNING,
    UNICODE_NOTIFICATION,
    Pages,
    day_pages_landed,
    files_of,
)


def _expected_element_rows(pages: Pages) -> list[dict[str, str]]:
    with pages.engine.connect() as connection:
        keys = {
            (row.reference, row.delivery_ts, row.page_position): row.notification_key
            for row in connection.execute(select(dnb_landed_notifications))
        }
    rows = []
    for (reference, at), notifications in sorted(day_pages_landed(pages).items()):
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

    files = files_of(settings)
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

    plain_files, zipped_files = files_of(plain), files_of(zipped)
    assert sorted(zipped_files) == sorted(f"{name}.gz" for name in plain_files)
    assert zipped_files == files_of(again)
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
