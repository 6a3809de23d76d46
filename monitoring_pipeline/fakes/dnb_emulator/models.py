"""Plain data of the emulator: registrations, queued and delivered notifications, tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring_pipeline.dnb.identifiers import DUNS_PATTERN, validate_reference
from monitoring_pipeline.dnb.models import NOTIFICATION_TYPES
from monitoring_pipeline.dnb.timestamps import format_seconds, format_zoneless

__all__ = ["NOTIFICATION_TYPES", "RegistrationSpec", "SpecError", "is_duns", "is_reference"]

_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "off", ""})


class SpecError(ValueError):
    """A bad registration field; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def is_duns(value: object) -> bool:
    """A DUNS is exactly nine digits, leading zeros kept."""
    return isinstance(value, str) and DUNS_PATTERN.match(value) is not None


def is_reference(value: object) -> bool:
    """Registration references end up in URLs and file paths: a strict character set, no dot paths."""
    try:
        validate_reference(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RegistrationSpec:
    """Fields of a registration to create (JSON or multipart form)."""

    reference: str
    product_id: str = "cmpelk"
    version_id: str = "v2"
    notification_type: str = "UPDATE"
    delivery_trigger: str = "API_PULL"
    delivery_frequency: str = "DAILY"
    seed_data: bool = False
    email: str | None = None
    description: str | None = None
    subjects: tuple[str, ...] = ()
    suppressed: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RegistrationSpec:
        """Validate a create body; unknown fields are ignored. Raises ``SpecError``."""
        reference = data.get("reference")
        if not is_reference(reference):
            raise SpecError(
                "reference", "must be 1-64 characters of letters, digits, '_', '.' or '-' (not '.' or '..')"
            )
        return cls(
            reference=reference,
            product_id=_text(data, "productId", "cmpelk"),
            version_id=_text(data, "versionId", "v2"),
            notification_type=_text(data, "notificationType", "UPDATE"),
            delivery_trigger=_text(data, "deliveryTrigger", "API_PULL"),
            delivery_frequency=_text(data, "deliveryFrequency", "DAILY"),
            seed_data=_flag(data, "seedData"),
            email=_optional_text(data, "email"),
            description=_optional_text(data, "description"),
            subjects=_subjects(data.get("subjects")),
            suppressed=_flag(data, "suppressed"),
        )


def _text(data: Mapping[str, Any], name: str, default: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > 256:
        raise SpecError(name, "must be a string of at most 256 characters")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise SpecError(name, "must be a string of at most 2048 characters")
    return value


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if isinstance(value, bool):
        return value
    # Multipart forms carry booleans as text.
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise SpecError(name, "must be true or false")


def _subjects(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # A form field: one DUNS a line (or comma separated).
        value = [part.strip() for part in re.split(r"[\s,]+", value) if part.strip()]
    if not isinstance(value, list):
        raise SpecError("subjects", "must be a list of 9-digit DUNS strings")
    bad = [repr(v) for v in value if not is_duns(v)]
    if bad:
        raise SpecError("subjects", f"must be 9-digit DUNS strings; invalid: {', '.join(bad[:5])}")
    return tuple(dict.fromkeys(value))


@dataclass
class QueuedNotification:
    """A notification waiting to be pulled."""

    generated_at: datetime
    seq: int
    notification: dict[str, Any]
    # Expiry counts from here: generation time, or the moment a suppression that held it was lifted.
    expiry_base: datetime

    def order_key(self) -> tuple[datetime, int]:
        """Ascending generation time, then arrival order."""
        return (self.generated_at, self.seq)


@dataclass(frozen=True)
class Delivery:
    """One notification handed out by a Pull, exactly as delivered."""

    reference: str
    delivered_at: datetime
    timestamp: str
    notification: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Entry of the delivery log."""
        return {"reference": self.reference, "deliveryTimeStamp": self.timestamp, "notification": self.notification}


@dataclass(frozen=True)
class BatchRejection:
    """A line of a batch subject file that was skipped."""

    operation: str
    line: int
    value: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        """Admin view of the rejection."""
        return {"operation": self.operation, "line": self.line, "value": self.value, "reason": self.reason}


@dataclass
class PendingBatch:
    """A batch subject upload accepted (202) and applied once ``due`` (monotonic seconds) has passed."""

    due: float
    adds: list[str]
    removes: list[str]


@dataclass
class Stream:
    """A live stream of generated notifications for one registration."""

    per_minute: float
    types: dict[str, float] | None
    owed: float = 0.0
    last_tick: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Admin view of the stream."""
        return {"per_minute": self.per_minute, "types": self.types}


@dataclass
class Token:
    """An issued access token; the token string itself is the dictionary key that holds it."""

    key: str
    expires_at: datetime
    revoked: bool = False


@dataclass
class Registration:
    """A monitoring registration and everything queued for or delivered from it."""

    spec: RegistrationSpec
    created_at: datetime
    updated_at: datetime
    suppressed: bool
    subjects: dict[str, None] = field(default_factory=dict)
    pending: list[QueuedNotification] = field(default_factory=list)
    delivered: list[Delivery] = field(default_factory=list)
    delivered_at: list[datetime] = field(default_factory=list)
    rejected_lines: list[BatchRejection] = field(default_factory=list)
    batches: list[PendingBatch] = field(default_factory=list)
    stream: Stream | None = None

    @property
    def reference(self) -> str:
        """The registration's unique reference."""
        return self.spec.reference

    def last_delivery(self) -> datetime | None:
        """Moment of the latest Pull that delivered something."""
        return self.delivered_at[-1] if self.delivered_at else None

    def messages(self) -> dict[str, Any]:
        """The ``messages`` part of the registration details response."""
        spec = self.spec
        registration: dict[str, Any] = {
            "reference": spec.reference,
            "productId": spec.product_id,
            "versionId": spec.version_id,
            "deliveryTrigger": spec.delivery_trigger,
            "deliveryFrequency": spec.delivery_frequency,
            "notificationType": spec.notification_type,
            "seedData": spec.seed_data,
        }
        if spec.email is not None:
            registration["email"] = spec.email
        if spec.description is not None:
            registration["description"] = spec.description
        registration["createdDate"] = format_zoneless(self.created_at)
        registration["lastUpdatedDate"] = format_seconds(self.updated_at)
        return {"notificationsSuppressed": self.suppressed, "state": "CURRENT", "registration": registration}
