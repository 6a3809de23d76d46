"""D&B date-time formats: ISO-8601 UTC with ``Z`` at varying precision, and zone-less registration dates."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

_ZONELESS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


@lru_cache(maxsize=8192)
def parse_dnb_timestamp(value: str) -> datetime:
    """Parse any D&B timestamp into an aware UTC datetime.

    Accepts ``2026-11-20T11:06:48.292Z``, ``2026-11-17T01:23:13Z``, explicit offsets, and the
    zone-less ``2026-11-20 11:52:18`` used by registration fields (taken as UTC).
    Raises ``ValueError`` for anything else. Cached: one Pull's notifications share a timestamp.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _ZONELESS_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                pass
        raise ValueError(f"not a D&B timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_millis(moment: datetime) -> str:
    """``deliveryTimeStamp`` / ``transactionTimestamp`` form: milliseconds and ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_seconds(moment: datetime) -> str:
    """``elements[].timestamp`` form: whole seconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_zoneless(moment: datetime) -> str:
    """Registration ``createdDate`` form: ``YYYY-MM-DD HH:MM:SS`` in UTC, no zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
