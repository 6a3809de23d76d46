"""The bytes of a page's files: the seed's JSON format, and CSV/Parquet with one row per element change.

Rendering depends only on the landed rows, so equal data gives equal bytes (gzip without a clock, Parquet
without a pandas index).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.files.layout import ExportSettings, group_paths

FORMAT_VERSION = "1.0"
STORAGE_TYPE = "local"

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
# Per-page CSV and Parquet (and the day's company_changes file) carry the same columns and (string) values.
ELEMENT_SCHEMA = pa.schema([(name, pa.string()) for name in ELEMENT_COLUMNS])

_COMPACT = (",", ":")


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=_COMPACT)


def deterministic_gzip(data: bytes) -> bytes:
    # mtime=0 and no file name: equal input gives equal bytes.
    return gzip.compress(data, compresslevel=6, mtime=0)


def render_json(reference: str, instant: datetime, notifications: list[Any]) -> bytes:
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
    lines = ",\n    ".join(json.dumps(n, ensure_ascii=False, separators=_COMPACT) for n in notifications)
    body = f"[\n    {lines}\n  ]" if notifications else "[]"
    return f'{{\n  "metadata": {header},\n  "notifications": {body}\n}}\n'.encode()


def element_rows(reference: str, rows: Sequence[Any], notifications: list[Any]) -> list[tuple[str | None, ...]]:
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
                    compact_json(element.get("previous")),
                    compact_json(element.get("current")),
                    element.get("timestamp"),
                )
            )
    return table


def render_csv(table: list[tuple[str | None, ...]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ELEMENT_COLUMNS)
    writer.writerows(table)
    return buffer.getvalue().encode("utf-8")


def element_table(table: Sequence[tuple[str | None, ...]]) -> pa.Table:
    """Rows of ``ELEMENT_COLUMNS`` as an Arrow table with the fixed schema."""
    columns = list(zip(*table, strict=True)) if table else [()] * len(ELEMENT_COLUMNS)
    return pa.table([pa.array(c, pa.string()) for c in columns], schema=ELEMENT_SCHEMA)


def render_parquet(table: list[tuple[str | None, ...]]) -> bytes:
    """Snappy Parquet with a fixed schema and no pandas index.

    Byte-identical for equal rows under one pyarrow version (the file holds no clock value; its
    ``created_by`` names the pyarrow version, so an upgrade rewrites each file once on rebuild).
    """
    sink = pa.BufferOutputStream()
    pq.write_table(element_table(table), sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


def render_group(
    settings: ExportSettings, day: date, reference: str, instant: datetime, rows: Sequence[Any]
) -> list[tuple[str, bytes]]:
    """The page's files as (relative path, bytes), one per format; ``rows`` in file order."""
    notifications = [json.loads(row.payload) for row in rows]
    rendered: dict[str, bytes] = {"json": render_json(reference, instant, notifications)}
    if "csv" in settings.formats or "parquet" in settings.formats:
        table = element_rows(reference, rows, notifications)
        if "csv" in settings.formats:
            rendered["csv"] = render_csv(table)
        if "parquet" in settings.formats:
            rendered["parquet"] = render_parquet(table)
    if settings.gzip:
        rendered = {fmt: data if fmt == "parquet" else deterministic_gzip(data) for fmt, data in rendered.items()}
    paths = group_paths(settings, day, reference, instant)
    return [(path, rendered[fmt]) for path, fmt in zip(paths, settings.formats, strict=True)]
