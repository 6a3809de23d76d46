"""Bulk inserts: PostgreSQL's COPY where available, batched executemany elsewhere."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table


def bulk_insert(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]], batch_size: int = 5000) -> int:
    """Insert ``rows`` into ``table`` inside the caller's transaction; returns the number inserted."""
    if connection.dialect.name == "postgresql":
        return _copy_rows(connection, table, rows, batch_size)
    total = 0
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            connection.execute(table.insert(), batch)
            total += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        total += len(batch)
    return total


def _copy_rows(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]], batch_size: int) -> int:
    columns = [column.name for column in table.columns]
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    total = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    pending = 0
    try:
        for row in rows:
            writer.writerow(["\\N" if row.get(name) is None else _csv_value(row[name]) for name in columns])
            pending += 1
            if pending >= batch_size:
                total += _flush(cursor, statement, buffer, pending)
                pending = 0
        if pending:
            total += _flush(cursor, statement, buffer, pending)
    finally:
        cursor.close()
    return total


def _flush(cursor: Any, statement: str, buffer: io.StringIO, pending: int) -> int:
    buffer.seek(0)
    cursor.copy_expert(statement, buffer)
    buffer.seek(0)
    buffer.truncate()
    return pending


def _csv_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
