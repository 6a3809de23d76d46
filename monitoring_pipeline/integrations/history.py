"""Long history: raw probe results rolled up per integration and hour, and raw rows pruned after the retention.

An hourly row keeps what the daily figures and the 30-day budget need (counts, errors by class, a latency
histogram and percentiles, seconds in each state), so history stays queryable for as long as the rollups are
kept (forever, by default) while raw rows go after ``probing.raw_retention``.

Both are safe to run concurrently with each other and with themselves (several day partitions at once, the
retention job next to a backfill): hourly rows are upserted, and a rollup never mistakes raw rows being pruned
under it for an hour without data.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, func, select

from monitoring_pipeline.integrations.runner import DEGRADED, FAILED, SKIPPED, UP
from monitoring_pipeline.integrations.sla import histogram, percentile, state_seconds
from monitoring_pipeline.integrations.state import STATE_MAINTENANCE
from monitoring_pipeline.storage.schema import integration_probe_hourly, integration_probe_results
from monitoring_pipeline.storage.upsert import upsert

HOUR = timedelta(hours=1)
# A probe's state holds for this many intervals; beyond, time counts as UNKNOWN (no data).
MAX_GAP_INTERVALS = 3
DEFAULT_INTERVAL_SECONDS = 60.0


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def max_gap(intervals: Mapping[str, float], integration: str) -> float:
    return MAX_GAP_INTERVALS * intervals.get(integration, DEFAULT_INTERVAL_SECONDS)


@dataclass(frozen=True)
class _Row:
    probed_at: datetime
    outcome: str
    state: str
    latency_ms: float | None
    error_class: str | None
    attempts: int


def rollup(engine: Engine, intervals: Mapping[str, float], start: datetime, end: datetime,
           integrations: Sequence[str] | None = None) -> int:
    """(Re)compute hourly rows for the hours in [start, end) wherever raw results cover them; returns rows written.

    An hour is recomputed only when raw rows exist in it or raw history reaches back before it, so hours whose
    raw rows were pruned keep their rollups untouched.
    """
    start, end = floor_hour(start), floor_hour(end - timedelta(microseconds=1)) + HOUR
    names = list(integrations) if integrations is not None else _integrations_with_raw(engine, start, end)
    written = 0
    for name in names:
        gap = max_gap(intervals, name)
        rows, first_raw = _raw_rows(engine, name, start - timedelta(seconds=gap), end)
        if first_raw is None:
            continue
        hourly = []
        hour = start
        while hour < end:
            in_hour = [r for r in rows if hour <= r.probed_at < hour + HOUR]
            if in_hour or first_raw < hour:
                hourly.append(_hour_row(name, hour, rows, in_hour, gap))
            hour += HOUR
        if not hourly:
            continue
        with engine.begin() as connection:
            written += upsert(connection, integration_probe_hourly, hourly, ("integration", "hour"))
    return written


def downsample(engine: Engine, intervals: Mapping[str, float], older_than: datetime) -> tuple[int, int]:
    """Roll up every hour before ``older_than`` (floored to the hour) that still has raw rows, then delete those
    raw rows. Returns (hourly rows written, raw rows deleted). Idempotent; concurrent calls do the work twice
    but agree on the result."""
    cutoff = floor_hour(older_than)
    table = integration_probe_results
    with engine.connect() as connection:
        oldest = connection.execute(
            select(table.c.integration, func.min(table.c.probed_at)).where(table.c.probed_at < cutoff)
            .group_by(table.c.integration)
        ).all()
    written = 0
    for name, first in oldest:
        written += rollup(engine, intervals, _as_utc(first), cutoff, [name])
    with engine.begin() as connection:
        deleted = connection.execute(delete(table).where(table.c.probed_at < cutoff)).rowcount or 0
    return written, deleted


def _hour_row(name: str, hour: datetime, rows: Sequence[_Row], in_hour: Sequence[_Row], gap: float
              ) -> dict[str, object]:
    before = next((r for r in reversed(rows) if r.probed_at < hour), None)
    seconds = state_seconds([(r.probed_at, r.state) for r in in_hour], hour, hour + HOUR, gap,
                            (before.probed_at, before.state) if before is not None else None)
    latencies = latency_values(in_hour)
    # Maintenance windows are excluded from probe counts and errors too; calls (usage) count everything.
    counted = [r for r in in_hour if r.state != STATE_MAINTENANCE]
    errors = Counter(r.error_class or "unknown" for r in counted if r.outcome == FAILED)
    return {
        "integration": name,
        "hour": hour,
        "probes": sum(1 for r in counted if r.outcome != SKIPPED),
        "calls": sum(r.attempts for r in in_hour),
        "failed": sum(1 for r in counted if r.outcome == FAILED),
        "degraded": sum(1 for r in counted if r.outcome == DEGRADED),
        "errors_by_class": json.dumps(dict(sorted(errors.items()))),
        "latency_histogram": json.dumps(histogram(latencies)),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "latency_p99_ms": percentile(latencies, 99),
        **{f"seconds_{state.lower()}": round(value, 3) for state, value in seconds.items()},
    }


def latency_values(rows: Sequence[_Row]) -> list[float]:
    """Latencies that describe the service: answered probes (fast or slow) outside maintenance windows."""
    return [r.latency_ms for r in rows
            if r.latency_ms is not None and r.outcome in (UP, DEGRADED) and r.state != STATE_MAINTENANCE]


def raw_rows(engine: Engine, integration: str, start: datetime, end: datetime) -> list[_Row]:
    return _raw_rows(engine, integration, start, end)[0]


def _raw_rows(engine: Engine, integration: str, start: datetime, end: datetime
              ) -> tuple[list[_Row], datetime | None]:
    table = integration_probe_results
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.probed_at, table.c.outcome, table.c.state, table.c.latency_ms, table.c.error_class,
                   table.c.attempts)
            .where(table.c.integration == integration, table.c.probed_at >= start, table.c.probed_at < end)
            .order_by(table.c.probed_at, table.c.id)
        ).all()
        # Read after the rows, on purpose: pruning (one transaction, oldest hours first) may commit in between.
        # Then the rows read still hold every pruned hour in full, and the later, younger first row only keeps
        # the rollup from rewriting pruned hours that the rows no longer show.
        first = connection.execute(
            select(func.min(table.c.probed_at)).where(table.c.integration == integration)
        ).scalar_one_or_none()
    return [_Row(*row) for row in rows], _as_utc(first) if first is not None else None


def _integrations_with_raw(engine: Engine, start: datetime, end: datetime) -> list[str]:
    table = integration_probe_results
    with engine.connect() as connection:
        return list(connection.execute(
            select(table.c.integration).where(and_(table.c.probed_at >= start, table.c.probed_at < end)).distinct()
        ).scalars())


def _as_utc(value: datetime) -> datetime:
    # func.min() bypasses the column type on SQLite: normalise what comes back.
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
