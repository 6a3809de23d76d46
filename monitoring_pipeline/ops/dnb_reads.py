"""The D&B side as the ops service and the reports read it: notifications per day, type and registration,
quarantine, landing lag, D&B calls, notable company events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, case, func, literal_column, or_, select

from monitoring_pipeline.storage.schema import (
    dnb_api_errors,
    dnb_company_changes,
    dnb_landed_notifications,
    dnb_notifications,
    dnb_quarantine,
    dnb_registration_status,
    integration_call_counts,
)

DNB_USAGE_NAME = "dnb"  # the D&B resource counts its calls under this name in integration_call_counts
# Seconds of each stage (delivery -> landed -> files): the buckets of notifications_processing_duration_seconds.
LANDING_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
# Notification types a procurement or compliance reader acts on (the rest are routine updates).
NOTABLE_TYPES = ("DELETE", "TRANSFER", "UNDER_REVIEW", "EXIT", "REMOVED")


def counts_by_registration_and_type(engine: Engine, start: date, end: date) -> Counter[tuple[str, str]]:
    """Landed notifications per (registration, type) with a delivery day in [start, end)."""
    t = dnb_landed_notifications.c
    with engine.connect() as connection:
        return Counter({(ref, kind): int(n) for ref, kind, n in connection.execute(
            select(t.reference, t.notification_type, func.count())
            .where(t.delivery_day >= start, t.delivery_day < end).group_by(t.reference, t.notification_type))})


def counts_by_day(engine: Engine, start: date, end: date) -> dict[date, int]:
    t = dnb_landed_notifications.c
    with engine.connect() as connection:
        return {day: int(n) for day, n in connection.execute(
            select(t.delivery_day, func.count()).where(t.delivery_day >= start, t.delivery_day < end)
            .group_by(t.delivery_day))}


def _seconds_between(engine: Engine, later, earlier):  # type: ignore[no-untyped-def]
    if engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * literal_column("86400.0")


# The stages of notifications_processing_duration_seconds: (later, earlier) columns of dnb_landed_notifications.
DELIVERY_TO_LANDED = "delivery_to_landed"
LANDED_TO_MATERIALIZED = "landed_to_materialized"
_STAGES = {DELIVERY_TO_LANDED: ("landed_at", "delivery_ts"), LANDED_TO_MATERIALIZED: ("materialized_at", "landed_at")}


def landing_histogram(engine: Engine, start: date, end: date,
                      stage: str = DELIVERY_TO_LANDED) -> tuple[list[int], int, float]:
    """Cumulative bucket counts (``LANDING_BUCKETS`` then +Inf), count and sum of the seconds a stage took
    (D&B's delivery to landing, or landing to the day's files), for notifications delivered on days in [start, end)
    that went through it."""
    t = dnb_landed_notifications.c
    later, earlier = (t[name] for name in _STAGES[stage])
    seconds = _seconds_between(engine, later, earlier)
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LANDING_BUCKETS]
    with engine.connect() as connection:
        row = connection.execute(select(*columns, func.count(), func.sum(seconds))
                                 .where(t.delivery_day >= start, t.delivery_day < end, later.is_not(None))).one()
    count = int(row[-2] or 0)
    return [int(v or 0) for v in row[:-2]] + [count], count, float(row[-1] or 0.0)


def stage_histograms(engine: Engine, start: date, end: date) -> dict[str, tuple[list[int], int, float]]:
    """``landing_histogram`` of every stage."""
    return {stage: landing_histogram(engine, start, end, stage) for stage in _STAGES}


def quarantine_counts(engine: Engine, start: date | None = None, end: date | None = None) -> int:
    q = dnb_quarantine.c
    query = select(func.count()).select_from(dnb_quarantine)
    if start is not None:
        query = query.where(q.delivery_day >= start)
    if end is not None:
        query = query.where(q.delivery_day < end)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def quarantine_reasons(engine: Engine, start: date, end: date, limit: int = 10) -> list[tuple[str, str, int]]:
    """(registration, reason, count) of the period's quarantined notifications, most frequent first."""
    q = dnb_quarantine.c
    with engine.connect() as connection:
        return [(ref, reason, int(n)) for ref, reason, n in connection.execute(
            select(q.reference, q.reason, func.count().label("n")).where(q.delivery_day >= start, q.delivery_day < end)
            .group_by(q.reference, q.reason).order_by(literal_column("n").desc()).limit(limit))]


@dataclass(frozen=True)
class RegistrationLanding:
    reference: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    landed_total: int
    quarantined_total: int


def registration_landings(engine: Engine) -> list[RegistrationLanding]:
    r = dnb_registration_status.c
    with engine.connect() as connection:
        return [RegistrationLanding(row.reference, row.last_attempt_at, row.last_success_at, row.last_error,
                                    int(row.landed_total or 0), int(row.quarantined_total or 0))
                for row in connection.execute(select(dnb_registration_status).order_by(r.reference))]


def last_delivery_by_registration(engine: Engine) -> dict[str, datetime]:
    """Each registration's newest landed delivery timestamp."""
    t = dnb_landed_notifications.c
    with engine.connect() as connection:
        return {ref: ts for ref, ts in connection.execute(
            select(t.reference, func.max(t.delivery_ts)).group_by(t.reference)) if ts is not None}


def dnb_errors(engine: Engine) -> dict[str, int]:
    """Failed D&B calls the project counted (all processes, all time), by reason."""
    e = dnb_api_errors.c
    with engine.connect() as connection:
        return {reason: int(n) for reason, n in connection.execute(
            select(e.reason, func.sum(e.errors)).group_by(e.reason).order_by(e.reason))}


def dnb_calls(engine: Engine, start: date | None = None, end: date | None = None) -> int:
    """D&B calls the project counted (all processes), over days [start, end) or all time."""
    c = integration_call_counts.c
    query = select(func.coalesce(func.sum(c.calls), 0)).where(c.integration == DNB_USAGE_NAME)
    if start is not None:
        query = query.where(c.day >= start)
    if end is not None:
        query = query.where(c.day < end)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


@dataclass(frozen=True)
class CompanyEvent:
    delivery_ts: datetime
    reference: str
    duns: str
    notification_type: str
    what: str


def notable_events(engine: Engine, start: date, end: date, limit: int = 50) -> tuple[list[CompanyEvent], int]:
    """Out-of-business, deletions, transfers and other notable notifications of the period (the first ``limit``,
    newest first) and how many there were; name and address changes come from ``name_and_address_changes``."""
    t = dnb_notifications.c
    where = (t.delivery_day >= start, t.delivery_day < end, t.notification_type.in_(NOTABLE_TYPES))
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(dnb_notifications).where(*where))
                    .scalar_one())
        rows = connection.execute(select(t.delivery_ts, t.reference, t.duns, t.notification_type).where(*where)
                                  .order_by(t.delivery_ts.desc(), t.notification_key).limit(limit)).all()
    return [CompanyEvent(r.delivery_ts, r.reference, r.duns, r.notification_type,
                         r.notification_type.replace("_", " ").lower()) for r in rows], total


# Element paths whose change a reader of the report acts on (the company's name, address, operating status).
_NOTABLE_ELEMENTS = ("primaryName", "primaryAddress", "dunsControlStatus.operatingStatus", "isOutOfBusiness")


def name_and_address_changes(engine: Engine, start: date, end: date,
                             limit: int = 50) -> tuple[list[CompanyEvent], int]:
    """Element changes to a company's name, address or operating status in the period (first ``limit``) and total."""
    v = dnb_company_changes.c
    matches = [v.element.like(f"%{name}%") for name in _NOTABLE_ELEMENTS]
    where = (v.delivery_day >= start, v.delivery_day < end, or_(*matches))
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(dnb_company_changes).where(*where))
                    .scalar_one())
        rows = connection.execute(select(v.delivery_ts, v.reference, v.duns, v.notification_type, v.element,
                                         v.current).where(*where)
                                  .order_by(v.delivery_ts.desc(), v.notification_key, v.position).limit(limit)).all()
    events = []
    for r in rows:
        current, element = (r.current or "")[:80], _short_element(r.element)
        events.append(CompanyEvent(r.delivery_ts, r.reference, r.duns, r.notification_type,
                                   f"{element} → {current}" if current else element))
    return events, total


def _short_element(element: str) -> str:
    parts: Sequence[str] = element.replace("organization.", "").split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else ".".join(parts)
