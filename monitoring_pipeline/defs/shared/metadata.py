"""Shared helpers for Dagster metadata."""

from collections.abc import Mapping, Sequence

import dagster as dg


def markdown_table(rows: Sequence[Mapping[str, object]], empty: str = "_none_") -> dg.MetadataValue:
    """A small Markdown table for previews in the asset's metadata."""
    if not rows:
        return dg.MetadataValue.md(empty)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))
