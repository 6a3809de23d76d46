"""Each monitored company's current state per registration, folded from landed notifications.

A company's state is its last SEED's data block with every later UPDATE applied in delivery order
(``(delivery_ts, page_position, id)``), plus a status driven by the notification types.

Dotted-path rules of :func:`apply_change`:

* A leading ``organization`` segment is the block root (the SEED's ``organization`` object); a path
  without it is also applied from the root. ``organization`` alone replaces the whole block (objects only).
* Walking down, a missing or null member of an object becomes a new empty object.
* A segment indexes a list when the container is a list: it must be a decimal index inside the list.
  An out-of-range or non-numeric index changes nothing and is reported: the list is never padded or
  extended, so the element waits for the next SEED (or an UPDATE of the whole list) to be right.
* A numeric segment in an object is an ordinary (string) key: we never guess that an object is a list.
* A path that crosses a scalar (string, number, boolean) changes nothing and is reported.
* ``current`` is stored as given, ``null`` included (the member stays, set to null).

Pure functions, no database: ``monitored_companies`` keeps ``dnb_companies`` in step with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitoring_pipeline.dnb.identifiers import DUNS_PATTERN

__all__ = ["STATUSES", "CompanyState", "apply_change", "fold", "next_status", "retained_duns"]

STATUSES = ("active", "deleted", "under_review", "transferred", "exited", "removed")

_STATUS_BY_TYPE: dict[str, str] = {
    "SEED": "active",
    "DELETE": "deleted",
    "UNDELETE": "active",
    "UNDER_REVIEW": "under_review",
    "REVIEWED": "active",
    "TRANSFER": "transferred",
    "EXIT": "exited",
    "ENTER": "active",
    "REMOVED": "removed",
}


def apply_change(block: dict[str, Any], element: str, current: Any) -> str | None:
    """Set the dotted path ``element`` of ``block`` to ``current``; return a problem instead of raising.

    Returns ``None`` when applied, else a description of why nothing was changed (see module rules).
    """
    if not isinstance(element, str) or not element:
        return f"element path must be a non-empty string, got {element!r}"
    parts = element.split(".")
    if parts[0] == "organization":
        parts = parts[1:]
    if not parts:
        if not isinstance(current, dict):
            return f"{element}: the whole block can only be replaced by an object, got {_kind(current)}"
        block.clear()
        block.update(current)
        return None
    if any(part == "" for part in parts):
        return f"{element}: empty path segment"

    container: Any = block
    for depth, part in enumerate(parts[:-1]):
        child: Any
        if isinstance(container, dict):
            child = container.get(part)
            if child is None:
                child = container[part] = {}
        else:
            index = _list_index(part, container)
            if index is None:
                return _bad_index(element, parts, depth, container)
            child = container[index]
            if child is None:
                child = container[index] = {}
        if not isinstance(child, dict | list):
            return f"{element}: crosses a {_kind(child)} at {'.'.join(parts[: depth + 1])}"
        container = child

    last = parts[-1]
    if isinstance(container, dict):
        container[last] = current
        return None
    index = _list_index(last, container)
    if index is None:
        return _bad_index(element, parts, len(parts) - 1, container)
    container[index] = current
    return None


def _list_index(part: str, items: list[Any]) -> int | None:
    if not (part.isascii() and part.isdigit()):
        return None
    index = int(part)
    return index if index < len(items) else None


def _bad_index(element: str, parts: list[str], depth: int, items: list[Any]) -> str:
    where = ".".join(parts[:depth]) or "the block root"
    return f"{element}: no item {parts[depth]!r} in the list of {len(items)} at {where}"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def next_status(status: str, transferred_to: str | None, notification: Mapping[str, Any]) -> tuple[str, str | None]:
    """The company's ``(status, transferred_to)`` after ``notification``.

    UPDATE (and anything unknown) changes nothing, so an UPDATE on a deleted company keeps it deleted.
    TRANSFER points at the first ``retainedDUNS``; any other status change clears that pointer.
    """
    kind = notification.get("type")
    if kind == "TRANSFER":
        return "transferred", retained_duns(notification)
    new_status = _STATUS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if new_status is None:
        return status, transferred_to
    return new_status, None


def retained_duns(notification: Mapping[str, Any]) -> str | None:
    """The first valid ``organization.dunsControlStatus.dunsTransfers[].retainedDUNS``, if any."""
    organization = notification.get("organization")
    control = organization.get("dunsControlStatus") if isinstance(organization, dict) else None
    transfers = control.get("dunsTransfers") if isinstance(control, dict) else None
    for transfer in transfers if isinstance(transfers, list) else ():
        duns = transfer.get("retainedDUNS") if isinstance(transfer, dict) else None
        if isinstance(duns, str) and DUNS_PATTERN.match(duns):
            return duns
    return None


@dataclass
class CompanyState:
    """One company of one registration, as stored in ``dnb_companies``."""

    reference: str
    duns: str
    status: str = "active"
    transferred_to: str | None = None
    block: dict[str, Any] | None = None  # None until the first SEED
    last_notification_type: str | None = None
    last_delivery_ts: datetime | None = None
    last_landed_id: int = 0  # the highest landed id folded in (not the last in delivery order)
    updates_applied: int = 0  # UPDATE notifications applied to the block since its SEED


def fold(
    state: CompanyState | None, notification_row: Mapping[str, Any], *, problems: list[str] | None = None
) -> CompanyState:
    """Apply one landed notification (a ``dnb_landed_notifications`` row mapping) to ``state``.

    ``state`` is updated in place and returned (blocks are large: no copies); ``None`` starts a new one.
    SEED replaces the block with its ``organization``; UPDATE applies its ``elements`` in order and is
    ignored for the block while there is no SEED yet. Element problems are appended to ``problems``.
    """
    row = notification_row
    if state is None:
        state = CompanyState(reference=row["reference"], duns=row["duns"])
    elif (state.reference, state.duns) != (row["reference"], row["duns"]):
        raise ValueError(f"row for {row['reference']}/{row['duns']} folded into {state.reference}/{state.duns}")
    sink = problems if problems is not None else []
    payload = row["payload"]
    try:
        notification = json.loads(payload) if isinstance(payload, str | bytes) else payload
    except ValueError as error:
        notification = None
        sink.append(f"payload is not JSON: {error}")
    if not isinstance(notification, dict):
        notification = {}
    kind = row["notification_type"]

    if kind == "SEED":
        organization = notification.get("organization")
        if isinstance(organization, dict):
            state.block = organization
            state.updates_applied = 0
        else:
            sink.append(f"SEED without an organization object ({_kind(organization)})")
    elif kind == "UPDATE" and state.block is not None:
        elements = notification.get("elements")
        for position, change in enumerate(elements if isinstance(elements, list) else ()):
            if not isinstance(change, dict) or "element" not in change:
                sink.append(f"elements[{position}] is not an element change")
                continue
            problem = apply_change(state.block, change["element"], change.get("current"))
            if problem is not None:
                sink.append(problem)
        state.updates_applied += 1

    state.status, state.transferred_to = next_status(state.status, state.transferred_to, {**notification, "type": kind})
    if kind == "TRANSFER" and state.transferred_to is None:
        sink.append("TRANSFER without a valid retainedDUNS")
    state.last_notification_type = kind
    state.last_delivery_ts = row["delivery_ts"]
    state.last_landed_id = max(state.last_landed_id, int(row["id"]))
    return state
