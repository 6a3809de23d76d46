"""Landing: every Pull or Replay page is written durably and idempotently before the next call.

Valid notifications go to ``dnb_landed_notifications``, malformed ones to ``dnb_quarantine`` with the
reason, in one transaction together with the registration's new cursor. Idempotency comes from the
unique content key and an insert that ignores conflicts, never from a read-then-write.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitoring_pipeline.dnb.client import DnbClient
from monitoring_pipeline.dnb.errors import DnbError
from monitoring_pipeline.dnb.models import NOTIFICATION_TYPES, NotificationPage, validate_notification
from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.logs import log_context
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_quarantine, dnb_registration_status

log = logging.getLogger(__name__)


@dataclass
class PageLanding:
    """What one page added to the store."""

    landed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    days: Counter[date] = field(default_factory=Counter)  # new notifications per UTC delivery day
    quarantined_days: Counter[date] = field(default_factory=Counter)  # newly quarantined ones per day


@dataclass
class RegistrationLanding:
    """What one drain of one registration added, for sensor logs and run metadata."""

    reference: str
    pages: int = 0
    landed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    recovered: int = 0
    lost_responses: int = 0
    exhausted: bool = False
    days: Counter[date] = field(default_factory=Counter)
    quarantined_days: Counter[date] = field(default_factory=Counter)
    error: str | None = None

    def add(self, page: PageLanding) -> None:
        self.pages += 1
        self.landed += page.landed
        self.duplicates += page.duplicates
        self.quarantined += page.quarantined
        self.days.update(page.days)
        self.quarantined_days.update(page.quarantined_days)

    @property
    def touched_days(self) -> set[date]:
        """Days whose checks have something new to judge: new notifications or new quarantined ones."""
        return set(self.days) | set(self.quarantined_days)


def insert_ignoring_duplicates(engine: Engine, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the engine's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def quarantine_reason(raw: Any) -> str | None:
    """Why ``raw`` cannot be landed as a notification, or ``None`` when it can."""
    try:
        notification = validate_notification(raw)
    except ValidationError as error:
        return "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'notification'}: {issue['msg']}"
            for issue in error.errors(include_url=False)
        )
    if notification.type not in NOTIFICATION_TYPES:
        return f"type: unknown notification type {notification.type!r}"
    return None


def land_page(
    engine: Engine,
    page: NotificationPage,
    *,
    resume_from: datetime | None = None,
    landed_at: datetime | None = None,
) -> PageLanding:
    """Write ``page`` in one transaction, with ``resume_from`` as the registration's new cursor.

    Counts and cursor go to the registration's status row when one exists (``ensure_status_row``).
    """
    now = landed_at or datetime.now(UTC)
    valid: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    quarantined_raw: list[Any] = []
    for position, (raw, key) in enumerate(zip(page.notifications, page.keys, strict=True)):
        payload = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=str)
        reason = quarantine_reason(raw)
        if reason is None:
            delivered = parse_dnb_timestamp(raw["deliveryTimeStamp"])
            valid.append(
                {
                    "notification_key": key,
                    "reference": page.reference,
                    "duns": raw["organization"]["duns"],
                    "notification_type": raw["type"],
                    "delivery_ts": delivered,
                    "delivery_day": delivered.date(),
                    "page_position": position,
                    "payload": payload,
                    "source": page.source,
                    "landed_at": now,
                }
            )
        else:
            quarantined_raw.append(raw)
            quarantined.append(
                {
                    "notification_key": key,
                    "reference": page.reference,
                    "delivery_day": _delivery_day(raw) or now.date(),
                    "reason": reason,
                    "payload": payload,
                    "source": page.source,
                    "landed_at": now,
                }
            )
    result = PageLanding()
    with engine.begin() as connection:
        if valid:
            inserted = connection.execute(
                insert_ignoring_duplicates(engine, dnb_landed_notifications).returning(
                    dnb_landed_notifications.c.delivery_day
                ),
                valid,
            ).scalars()
            result.days.update(inserted)
            result.landed = sum(result.days.values())
            result.duplicates = len(valid) - result.landed
        if quarantined:
            result.quarantined_days.update(
                connection.execute(
                    insert_ignoring_duplicates(engine, dnb_quarantine).returning(dnb_quarantine.c.delivery_day),
                    quarantined,
                ).scalars()
            )
            result.quarantined = sum(result.quarantined_days.values())
            result.duplicates += len(quarantined) - result.quarantined
            for row, raw in zip(quarantined, quarantined_raw, strict=True):
                with log_context(registration=page.reference, **_identity(raw)):
                    log.warning("quarantined a %s notification: %s", page.reference, row["reason"])
        _record_progress(connection, page.reference, resume_from, result, now)
    return result


def land_registration(
    client: DnbClient,
    engine: Engine,
    reference: str,
    *,
    deadline: float | None = None,
    page_size: int = 100,
) -> RegistrationLanding:
    """Drain one registration, landing each page before the next Pull; never raises D&B errors.

    The drain starts from the stored cursor (replaying first, which heals a crash between a Pull
    and its write) and stops at ``deadline`` (a ``time.monotonic()`` value) or when D&B is empty.
    """
    with log_context(registration=reference):  # the D&B client's retries and the quarantine lines too
        return _land_registration(client, engine, reference, deadline=deadline, page_size=page_size)


def _land_registration(client: DnbClient, engine: Engine, reference: str, *, deadline: float | None,
                       page_size: int) -> RegistrationLanding:
    summary = RegistrationLanding(reference)
    started = datetime.now(UTC)
    ensure_status_row(engine, reference)
    with engine.connect() as connection:
        cursor = connection.execute(
            select(dnb_registration_status.c.resume_from).where(dnb_registration_status.c.reference == reference)
        ).scalar_one()
    drain = client.drain(reference, since=cursor, page_size=page_size, deadline=deadline)
    try:
        for page in drain:
            summary.add(land_page(engine, page, resume_from=drain.resume_from))
            if page.recovered:
                summary.recovered += len(page)
        summary.exhausted = drain.exhausted
        # The cursor may move after the last page (a healed gap closing): keep it.
        _set_cursor(engine, reference, drain.resume_from, success_at=started)
    except DnbError as error:
        summary.error = f"{type(error).__name__}: {error}"
        log.warning("landing %s stopped: %s", reference, summary.error)
        with engine.begin() as connection:
            connection.execute(
                update(dnb_registration_status)
                .where(dnb_registration_status.c.reference == reference)
                .values(last_attempt_at=started, last_error=summary.error[:2000])
            )
    summary.lost_responses = drain.lost_responses
    log.debug("landed %d (%d duplicates, %d quarantined) in %d pages%s", summary.landed, summary.duplicates,
              summary.quarantined, summary.pages, "" if summary.exhausted else ", more to pull")
    return summary


def _identity(raw: Any) -> dict[str, str]:
    """The DUNS and type of a notification, as far as a malformed one has them (for its log line)."""
    if not isinstance(raw, dict):
        return {}
    organization = raw.get("organization")
    duns = organization.get("duns") if isinstance(organization, dict) else None
    fields = {"duns": duns, "notification_type": raw.get("type")}
    return {name: value for name, value in fields.items() if isinstance(value, str)}


def land_all(
    client: DnbClient,
    engine: Engine,
    references: list[str],
    *,
    time_budget_seconds: float = 40.0,
    page_size: int = 100,
) -> list[RegistrationLanding]:
    """Drain every registration within one time budget (a sensor tick must end well under 60 s).

    The registration served longest ago goes first, so a big backlog on one cannot starve the others.
    """
    deadline = time.monotonic() + time_budget_seconds
    results = []
    for reference in _least_recently_served_first(engine, references):
        if time.monotonic() >= deadline:
            results.append(RegistrationLanding(reference, error="time budget spent before this registration"))
            continue
        results.append(land_registration(client, engine, reference, deadline=deadline, page_size=page_size))
    return results


def _least_recently_served_first(engine: Engine, references: list[str]) -> list[str]:
    with engine.connect() as connection:
        served = {
            row.reference: row.last_success_at
            for row in connection.execute(
                select(dnb_registration_status.c.reference, dnb_registration_status.c.last_success_at)
            )
        }
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(references, key=lambda reference: (served.get(reference) or never, reference))


def _record_progress(connection: Any, reference: str, resume_from: datetime | None, page: PageLanding,
                     now: datetime) -> None:
    """Counts and cursor of the registration; its status row exists (see ``ensure_status_row``)."""
    values: dict[str, Any] = {
        "landed_total": dnb_registration_status.c.landed_total + page.landed,
        "quarantined_total": dnb_registration_status.c.quarantined_total + page.quarantined,
        "last_attempt_at": now,
    }
    if resume_from is not None:
        values["resume_from"] = resume_from
    connection.execute(
        update(dnb_registration_status).where(dnb_registration_status.c.reference == reference).values(**values)
    )


def _set_cursor(engine: Engine, reference: str, resume_from: datetime | None, *, success_at: datetime) -> None:
    values: dict[str, Any] = {"last_success_at": success_at, "last_attempt_at": success_at, "last_error": None}
    if resume_from is not None:
        values["resume_from"] = resume_from
    with engine.begin() as connection:
        connection.execute(
            update(dnb_registration_status).where(dnb_registration_status.c.reference == reference).values(**values)
        )


def ensure_status_row(engine: Engine, reference: str) -> None:
    """Create the registration's status row once, before its pages are landed."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as connection:
        connection.execute(
            dialect.insert(dnb_registration_status)
            .values(reference=reference, landed_total=0, quarantined_total=0)
            .on_conflict_do_nothing()
        )


def _delivery_day(raw: Any) -> date | None:
    stamp = raw.get("deliveryTimeStamp") if isinstance(raw, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return parse_dnb_timestamp(stamp).date()
    except ValueError:
        return None
