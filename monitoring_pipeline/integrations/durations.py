"""Durations as people write them in configuration: ``500ms``, ``30s``, ``5m``, ``1h``, ``14d`` or seconds."""

from __future__ import annotations

import re
from typing import Any

DURATION_EXPECTED = "a duration such as 500ms, 30s, 5m, 1h or 14d (a bare number means seconds)"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds in ``value``; ``ValueError`` with the expected form otherwise (negative durations included)."""
    if isinstance(value, bool):
        raise ValueError(DURATION_EXPECTED)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(DURATION_EXPECTED)
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(DURATION_EXPECTED)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``800ms``, ``30s``, ``5m``, ``1h``, ``14d``."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"
