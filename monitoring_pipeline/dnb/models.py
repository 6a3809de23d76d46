"""Pydantic models of D&B Direct+ responses. Unknown fields are kept; null arrays become empty."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from monitoring_pipeline.dnb.keys import page_keys
from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp

NOTIFICATION_TYPES = (
    "UPDATE",
    "SEED",
    "DELETE",
    "UNDELETE",
    "TRANSFER",
    "UNDER_REVIEW",
    "REVIEWED",
    "EXIT",
    "ENTER",
    "REMOVED",
)


class DnbModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _none_to_list(value: Any) -> Any:
    return [] if value is None else value


class TransactionDetail(DnbModel):
    transactionID: str | None = None
    transactionTimestamp: str | None = None
    inLanguage: str | None = None


class Information(DnbModel):
    code: str | None = None
    message: str | None = None


class Organization(DnbModel):
    duns: str


class Element(DnbModel):
    element: str
    previous: Any = None
    current: Any = None
    timestamp: str | None = None


class Notification(DnbModel):
    """One notification as validated for landing. ``validate_notification`` builds it from raw JSON."""

    type: str
    organization: Organization
    elements: list[Element] = []
    deliveryTimeStamp: str

    _normalise_elements = field_validator("elements", mode="before")(_none_to_list)

    @field_validator("organization")
    @classmethod
    def _duns_is_nine_digits(cls, value: Organization) -> Organization:
        from monitoring_pipeline.dnb.identifiers import validate_duns

        validate_duns(value.duns)
        return value

    @field_validator("deliveryTimeStamp")
    @classmethod
    def _timestamp_parses(cls, value: str) -> str:
        parse_dnb_timestamp(value)
        return value

    @property
    def duns(self) -> str:
        return self.organization.duns

    @property
    def delivered_at(self) -> datetime:
        return parse_dnb_timestamp(self.deliveryTimeStamp)


def validate_notification(raw: Any) -> Notification:
    """Validate one raw notification; raises ``pydantic.ValidationError`` with the reason."""
    return Notification.model_validate(raw)


class RegistrationSettings(DnbModel):
    reference: str
    productId: str | None = None
    versionId: str | None = None
    deliveryTrigger: str | None = None
    deliveryFrequency: str | None = None
    notificationType: str | None = None
    seedData: bool | None = None
    email: str | None = None
    description: str | None = None
    createdDate: str | None = None
    lastUpdatedDate: str | None = None


class RegistrationMessages(DnbModel):
    notificationsSuppressed: bool | None = None
    state: str | None = None
    registration: RegistrationSettings


class RegistrationDetails(DnbModel):
    """``GET /v1/monitoring/registrations/{reference}``."""

    transactionDetail: TransactionDetail | None = None
    inquiryDetail: dict[str, Any] | None = None
    messages: RegistrationMessages

    @property
    def reference(self) -> str:
        return self.messages.registration.reference

    @property
    def suppressed(self) -> bool:
        return bool(self.messages.notificationsSuppressed)


class RegistrationList(DnbModel):
    transactionDetail: TransactionDetail | None = None
    messages: dict[str, Any] | None = None

    @property
    def references(self) -> list[str]:
        refs = (self.messages or {}).get("references")
        return [str(r) for r in refs or []]


class InformationResponse(DnbModel):
    """A successful operation that carries ``information.code`` (21108, 21110, 21113, 21114...)."""

    transactionDetail: TransactionDetail | None = None
    information: Information | None = None

    @property
    def code(self) -> str | None:
        return self.information.code if self.information else None


@dataclass(frozen=True)
class SubjectChange:
    """Result of adding or removing one DUNS; ``already_in_desired_state`` for 21012 / absent-on-remove."""

    reference: str
    duns: str
    code: str | None
    already_in_desired_state: bool = False


@dataclass
class NotificationPage:
    """One Pull or Replay response, notifications kept raw so a malformed one can be quarantined."""

    reference: str
    notifications: list[dict[str, Any]]
    transaction_id: str | None
    source: str  # "pull" or "replay"
    recovered: bool = False  # replayed to heal a lost Pull response
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = page_keys(self.reference, self.notifications)

    def __len__(self) -> int:
        return len(self.notifications)

    @property
    def last_delivery(self) -> datetime | None:
        """Latest parseable ``deliveryTimeStamp`` in the page."""
        latest: datetime | None = None
        for raw in self.notifications:
            stamp = raw.get("deliveryTimeStamp") if isinstance(raw, dict) else None
            if not isinstance(stamp, str):
                continue
            try:
                moment = parse_dnb_timestamp(stamp)
            except ValueError:
                continue
            latest = moment if latest is None or moment > latest else latest
        return latest
