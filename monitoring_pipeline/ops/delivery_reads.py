"""Notification delivery as the ops service and the reports read it: the delivery log (every attempt) and the
outbox backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from monitoring_pipeline.alerting.outbox import HELD, PENDING
from monitoring_pipeline.storage.schema import alert_delivery_log, alert_outbox, alert_receiver_status


def deliveries_by_channel_and_outcome(engine: Engine, start: datetime | None = None,
                                      end: datetime | None = None) -> dict[tuple[str, str], int]:
    """Delivery attempts per (channel type, outcome) — all time, or within [start, end)."""
    d = alert_delivery_log.c
    query = select(d.channel_type, d.outcome, func.count()).group_by(d.channel_type, d.outcome)
    if start is not None:
        query = query.where(d.attempted_at >= start)
    if end is not None:
        query = query.where(d.attempted_at < end)
    with engine.connect() as connection:
        return {(channel, outcome): int(n) for channel, outcome, n in connection.execute(query)}


@dataclass(frozen=True)
class FailedDelivery:
    attempted_at: datetime
    receiver: str
    channel_type: str
    kind: str
    status_code: int | None
    detail: str


def failed_deliveries(engine: Engine, start: datetime, end: datetime, limit: int = 20) -> list[FailedDelivery]:
    """Permanent delivery failures in [start, end), newest first (details are redacted by the channels)."""
    d = alert_delivery_log.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(d.attempted_at, d.receiver, d.channel_type, d.kind, d.status_code, d.detail)
            .where(d.outcome == "failed", d.attempted_at >= start, d.attempted_at < end)
            .order_by(d.attempted_at.desc()).limit(limit)).all()
    return [FailedDelivery(r.attempted_at, r.receiver, r.channel_type, r.kind, r.status_code, r.detail or "")
            for r in rows]


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    held: int
    oldest_due_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        return max((now - self.oldest_due_at).total_seconds(), 0.0) if self.oldest_due_at else 0.0


def outbox_backlog(engine: Engine, now: datetime) -> OutboxBacklog:
    """Notifications due and not delivered (pending), held for a broken receiver, and the oldest due one."""
    o = alert_outbox.c
    with engine.connect() as connection:
        counts = dict(connection.execute(select(o.status, func.count()).where(o.status.in_((PENDING, HELD)))
                                         .group_by(o.status)).all())
        oldest = connection.execute(select(func.min(o.due_at)).where(o.status == PENDING, o.due_at <= now)
                                    ).scalar_one()
    return OutboxBacklog(int(counts.get(PENDING, 0)), int(counts.get(HELD, 0)), oldest)


def broken_receivers(engine: Engine) -> list[tuple[str, str]]:
    """(receiver, reason) of receivers marked broken."""
    r = alert_receiver_status.c
    with engine.connect() as connection:
        return [(row.receiver, row.reason or "") for row in connection.execute(
            select(r.receiver, r.reason).where(r.state == "broken").order_by(r.receiver))]
