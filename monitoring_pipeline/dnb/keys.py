"""Stable content keys for notifications: D&B has no notification ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from monitoring_pipeline.dnb.timestamps import format_millis, parse_dnb_timestamp


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON so equal content always serialises to equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _normalised_delivery(raw: Mapping[str, Any]) -> str | None:
    stamp = raw.get("deliveryTimeStamp")
    if not isinstance(stamp, str):
        return None
    try:
        return format_millis(parse_dnb_timestamp(stamp))
    except ValueError:
        return stamp


def notification_key(reference: str, raw: Any) -> str:
    """sha256 of (reference, DUNS, type, deliveryTimeStamp, elements, organization).

    Works on malformed notifications too (missing parts hash as null) so quarantined records get
    keys as stable as valid ones. The timestamp is normalised to milliseconds so Pull and Replay
    renderings of the same instant agree.
    """
    if not isinstance(raw, Mapping):
        # Not even an object: still quarantined, under a key as stable as any other.
        return hashlib.sha256(canonical_json({"reference": reference, "raw": raw}).encode("utf-8")).hexdigest()
    organization = raw.get("organization")
    duns = organization.get("duns") if isinstance(organization, Mapping) else None
    material = {
        "reference": reference,
        "duns": duns,
        "type": raw.get("type"),
        "deliveryTimeStamp": _normalised_delivery(raw),
        "elements": raw.get("elements") or [],
        "organization": organization,
    }
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()


def page_keys(reference: str, notifications: list[Any]) -> list[str]:
    """Keys for one page, telling apart byte-identical notifications delivered together.

    D&B can hand out the same content twice in one Pull (two DELETEs for one DUNS, say). The
    first copy keeps the plain content key; the k-th repeat gets the key hashed with ``#k``. Pull
    and Replay return a timestamp group in the same order, so every copy keeps its key.
    """
    seen: dict[str, int] = {}
    keys = []
    for raw in notifications:
        key = notification_key(reference, raw)
        repeat = seen.get(key, 0)
        seen[key] = repeat + 1
        keys.append(key if repeat == 0 else hashlib.sha256(f"{key}#{repeat}".encode()).hexdigest())
    return keys
