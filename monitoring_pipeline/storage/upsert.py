"""``INSERT … ON CONFLICT (key) DO UPDATE`` on SQLite and PostgreSQL alike.

An upsert, unlike delete-then-insert, never collides with a concurrent writer of the same keys: the second writer
waits for the first row and then overwrites it instead of failing on the primary key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int:
    """Insert ``rows`` into ``table``; a row whose ``keys`` already exist replaces the stored values.

    Every row has the same columns. Returns the number of rows given.
    """
    if not rows:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table)
    updated = [name for name in rows[0] if name not in keys]
    statement = (insert.on_conflict_do_update(index_elements=list(keys),
                                              set_={name: insert.excluded[name] for name in updated})
                 if updated else insert.on_conflict_do_nothing(index_elements=list(keys)))
    connection.execute(statement, [dict(row) for row in rows])
    return len(rows)


def add_counts(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
               counter: str) -> None:
    """Add each row's ``counter`` to the stored one of its ``keys`` (inserted when new): atomic across processes."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table)
    connection.execute(insert.on_conflict_do_update(
        index_elements=list(keys), set_={counter: table.c[counter] + insert.excluded[counter]}),
        [dict(row) for row in rows])
