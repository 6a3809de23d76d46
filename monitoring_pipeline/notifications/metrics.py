"""notification_metrics: per-day counts, companies affected and delivery lag, as stable numbers."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import Connection, Engine, func, literal_column, select

from monitoring_pipeline.dnb.models import NOTIFICATION_TYPES
from monitoring_pipeline.notifications.landed_store import counts_by_reference_and_type
from monitoring_pipeline.storage.schema import dnb_notification_elements, dnb_notifications, dnb_quarantine


@dataclass
class DayMetrics:
    """One day's figures; ``as_metadata`` keys never change so the Dagster UI can plot them."""

    notifications: int = 0
    duns_affected: int = 0
    element_changes: int = 0
    quarantined: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_reference: Counter[str] = field(default_factory=Counter)
    lag_p50_seconds: float = 0.0
    lag_p95_seconds: float = 0.0
    lag_max_seconds: float = 0.0

    def as_metadata(self) -> dict[str, float | int]:
        figures: dict[str, float | int] = {
            "notifications": self.notifications,
            "duns_affected": self.duns_affected,
            "element_changes": self.element_changes,
            "quarantined": self.quarantined,
            "delivery_lag_p50_seconds": round(self.lag_p50_seconds, 3),
            "delivery_lag_p95_seconds": round(self.lag_p95_seconds, 3),
            "delivery_lag_max_seconds": round(self.lag_max_seconds, 3),
        }
        for notification_type in NOTIFICATION_TYPES:
            figures[f"type_{notification_type.lower()}"] = self.by_type.get(notification_type, 0)
        return figures


def day_metrics(engine: Engine, day: date) -> DayMetrics:
    """Figures for ``day`` from notifications_table (build it first)."""
    metrics = DayMetrics()
    notifications = dnb_notifications
    with engine.connect() as connection:
        metrics.by_reference, metrics.by_type = counts_by_reference_and_type(connection, notifications, day)
        metrics.notifications = sum(metrics.by_type.values())
        metrics.duns_affected = connection.execute(
            select(func.count(func.distinct(notifications.c.duns))).where(notifications.c.delivery_day == day)
        ).scalar_one()
        metrics.quarantined = connection.execute(
            select(func.count()).select_from(dnb_quarantine).where(dnb_quarantine.c.delivery_day == day)
        ).scalar_one()
        metrics.lag_p50_seconds, metrics.lag_p95_seconds, metrics.lag_max_seconds = _lag_percentiles(
            connection, engine, day
        )
        metrics.element_changes = connection.execute(
            select(func.count()).select_from(dnb_notification_elements).where(
                dnb_notification_elements.c.delivery_day == day
            )
        ).scalar_one()
    return metrics


def _lag_percentiles(connection: Connection, engine: Engine, day: date) -> tuple[float, float, float]:
    """(p50, p95, max) of the day's delivery lags; PostgreSQL computes them itself, SQLite streams them."""
    lag = _lag_query(engine, day).subquery()
    if engine.dialect.name == "postgresql":
        p50, p95, worst = connection.execute(
            select(
                func.percentile_cont(0.5).within_group(lag.c.lag),
                func.percentile_cont(0.95).within_group(lag.c.lag),
                func.max(lag.c.lag),
            )
        ).one()
        return float(p50 or 0.0), float(p95 or 0.0), float(worst or 0.0)
    lags = array("d")
    for (value,) in connection.execution_options(yield_per=10_000).execute(select(lag.c.lag)):
        if value is not None:
            lags.append(float(value))
    if not lags:
        return 0.0, 0.0, 0.0
    values = np.frombuffer(lags, dtype=np.float64)
    p50, p95 = (float(v) for v in np.percentile(values, [50, 95]))
    return p50, p95, float(values.max())


def _lag_query(engine: Engine, day: date):  # type: ignore[no-untyped-def]
    """Seconds from each element change to the delivery of its notification."""
    elements, notifications = dnb_notification_elements, dnb_notifications
    if engine.dialect.name == "postgresql":
        lag = func.extract("epoch", notifications.c.delivery_ts - elements.c.changed_at)
    else:
        lag = (func.julianday(notifications.c.delivery_ts) - func.julianday(elements.c.changed_at)) * literal_column(
            "86400.0"
        )
    return (
        select(lag.label("lag"))
        .select_from(elements.join(notifications, notifications.c.notification_key == elements.c.notification_key))
        .where(elements.c.delivery_day == day, elements.c.changed_at.is_not(None))
    )
