"""Integration health as the ops service and the reports read it: daily availability against the SLA, today's
availability from state changes, outages (DOWN periods) with their durations, failovers and latency series.

Only aggregate queries and small per-integration reads: the status page for 5,000 integrations and 90 days stays
fast because the long history comes from ``integration_health_days`` (one row per integration and day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, Integer, case, func, select

from monitoring_pipeline.integrations.reporting import SAMPLE_SCORE
from monitoring_pipeline.integrations.sla import percentile
from monitoring_pipeline.integrations.state import STATE_DOWN, STATE_MAINTENANCE, STATE_UNKNOWN
from monitoring_pipeline.storage.schema import (
    integration_failover_events,
    integration_health_days,
    integration_probe_hourly,
    integration_probe_results,
    integration_state_changes,
    integration_states,
    integration_usage_days,
)

# One character per day in the availability bar: the page draws it, the API and tests read it.
BAR_MET, BAR_NEAR, BAR_MISSED, BAR_MAINTENANCE, BAR_NO_DATA = "g", "y", "r", "m", "n"
NEAR_MISS_POINTS = 1.0  # below the SLA by at most this many percentage points: "near" (amber), else red


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def bar_code(availability: float | None, sla_percent: float, maintenance_only: bool = False) -> str:
    """The bar's colour for a day: met the SLA, missed it narrowly, missed it, maintenance only, or no data."""
    if availability is None:
        return BAR_MAINTENANCE if maintenance_only else BAR_NO_DATA
    percent = availability * 100.0
    if percent >= sla_percent:
        return BAR_MET
    return BAR_NEAR if percent >= sla_percent - NEAR_MISS_POINTS else BAR_MISSED


@dataclass(frozen=True)
class DayAvailability:
    day: date
    availability: float | None
    sla_target: float
    latency_p95_ms: float | None
    maintenance_only: bool

    @property
    def code(self) -> str:
        return bar_code(self.availability, self.sla_target, self.maintenance_only)


def daily_history(engine: Engine, start: date, end: date,
                  integrations: Sequence[str] | None = None) -> dict[str, dict[date, DayAvailability]]:
    """``integration_health_days`` rows in [start, end), per integration and day."""
    t = integration_health_days.c
    query = select(t.integration, t.day, t.availability, t.sla_target, t.latency_p95_ms, t.seconds_maintenance,
                   t.seconds_up, t.seconds_down, t.seconds_degraded, t.seconds_pending
                   ).where(t.day >= start, t.day < end)
    if integrations is not None:
        query = query.where(t.integration.in_(list(integrations)))
    found: dict[str, dict[date, DayAvailability]] = defaultdict(dict)
    with engine.connect() as connection:
        for row in connection.execute(query):
            observed = row.seconds_up + row.seconds_down + row.seconds_degraded + row.seconds_pending
            found[row.integration][row.day] = DayAvailability(
                row.day, row.availability, row.sla_target, row.latency_p95_ms,
                maintenance_only=observed <= 0 and row.seconds_maintenance > 0)
    return found


def _day_offset(engine: Engine, day_column, start: date):  # type: ignore[no-untyped-def]
    """Days from ``start`` to the row's day, computed by the database (no date parsing per row in Python)."""
    if engine.dialect.name == "postgresql":
        return day_column - start
    return func.cast(func.julianday(day_column) - func.julianday(start.isoformat()), Integer)


@dataclass(frozen=True)
class DailyBars:
    """Every integration's bar codes for ``days`` days from ``start`` (missing days: no data) and its mean daily
    availability over them."""

    start: date
    days: int
    codes: dict[str, str]
    mean_availability: dict[str, float]


def daily_bars(engine: Engine, start: date, days: int) -> DailyBars:
    """The 90-day bars of every integration at once, the colour decided by the database: one light row per day."""
    t = integration_health_days.c
    percent = t.availability * 100.0
    observed = t.seconds_up + t.seconds_down + t.seconds_degraded + t.seconds_pending
    code = case(
        (t.availability.is_(None) & (observed <= 0) & (t.seconds_maintenance > 0), BAR_MAINTENANCE),
        (t.availability.is_(None), BAR_NO_DATA),
        (percent >= t.sla_target, BAR_MET),
        (percent >= t.sla_target - NEAR_MISS_POINTS, BAR_NEAR),
        else_=BAR_MISSED)
    end = start + timedelta(days=days)
    # The window is most of the table: on SQLite a sequential scan beats 450,000 look-ups through the (day,
    # integration) key, and coalesce() keeps the planner off that index.
    day = func.coalesce(t.day, t.day) if engine.dialect.name == "sqlite" else t.day
    query = select(t.integration, _day_offset(engine, t.day, start), code, t.availability).where(
        day >= start, day < end)
    rows: dict[str, list[str]] = {}
    sums: dict[str, list[float]] = {}
    with engine.connect() as connection:
        for name, offset, found, availability in connection.execute(query):
            rows.setdefault(name, [BAR_NO_DATA] * days)[int(offset)] = found
            if availability is not None:
                total = sums.setdefault(name, [0.0, 0.0])
                total[0] += availability
                total[1] += 1
    means = {name: total / count for name, (total, count) in sums.items()}
    return DailyBars(start, days, {name: "".join(codes) for name, codes in rows.items()}, means)


@dataclass(frozen=True)
class CurrentState:
    integration: str
    state: str
    since: datetime | None
    cause: str
    breaker: str
    last_probe_at: datetime | None
    last_latency_ms: float | None
    last_outcome: str | None


def current_states(engine: Engine) -> dict[str, CurrentState]:
    t = integration_states.c
    with engine.connect() as connection:
        rows = connection.execute(select(t.integration, t.state, t.since, t.cause, t.breaker_state, t.last_probe_at,
                                         t.last_latency_ms, t.last_outcome)).all()
    return {row.integration: CurrentState(row.integration, row.state, row.since, row.cause or "", row.breaker_state,
                                          row.last_probe_at, row.last_latency_ms, row.last_outcome) for row in rows}


def state_and_latency(engine: Engine) -> dict[str, tuple[str, float | None]]:
    """(state, last latency in ms) per integration: what a scrape needs, without converting timestamps."""
    t = integration_states.c
    with engine.connect() as connection:
        return {name: (state, latency) for name, state, latency in connection.execute(
            select(t.integration, t.state, t.last_latency_ms))}


def today_availability(engine: Engine, states: dict[str, CurrentState], now: datetime) -> dict[str, float | None]:
    """Each integration's availability since midnight UTC, from its state changes (time outside maintenance and
    UNKNOWN that was not DOWN): cheap enough to compute live, unlike today's raw probe results."""
    start = day_start(now.date())
    c = integration_state_changes.c
    with engine.connect() as connection:
        changes = connection.execute(
            select(c.integration, c.changed_at, c.from_state, c.to_state)
            .where(c.changed_at >= start, c.changed_at <= now).order_by(c.integration, c.changed_at, c.id)
        ).all()
    by_integration: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for row in changes:
        by_integration[row.integration].append(row)
    result: dict[str, float | None] = {}
    for name, current in states.items():
        rows = by_integration.get(name, [])
        if rows:
            segments = [(start, rows[0].from_state)] + [(r.changed_at, r.to_state) for r in rows]
        elif current.since is None or current.since > now:
            segments = []
        else:
            segments = [(max(start, current.since), current.state)]
        down = observed = 0.0
        for index, (at, state) in enumerate(segments):
            until = segments[index + 1][0] if index + 1 < len(segments) else now
            seconds = max((until - at).total_seconds(), 0.0)
            if state in (STATE_MAINTENANCE, STATE_UNKNOWN):
                continue
            observed += seconds
            if state == STATE_DOWN:
                down += seconds
        result[name] = None if observed <= 0 else 1.0 - down / observed
    return result


@dataclass(frozen=True)
class Outage:
    """A period an integration was DOWN (``ended_at`` None: still down)."""

    integration: str
    started_at: datetime
    ended_at: datetime | None
    cause: str

    def duration_seconds(self, now: datetime) -> float:
        return ((self.ended_at or now) - self.started_at).total_seconds()


def outages(engine: Engine, start: datetime, end: datetime, integration: str | None = None,
            limit: int | None = None) -> list[Outage]:
    """DOWN periods overlapping [start, end), newest first: from the state changes into and out of DOWN."""
    c = integration_state_changes.c
    query = (select(c.integration, c.changed_at, c.from_state, c.to_state, c.cause)
             .where(c.changed_at < end).where((c.to_state == STATE_DOWN) | (c.from_state == STATE_DOWN))
             .order_by(c.integration, c.changed_at, c.id))
    if integration is not None:
        query = query.where(c.integration == integration)
    # A DOWN that began before the window and ended in it (or is still going) overlaps it: look back for it.
    query = query.where(c.changed_at >= start - timedelta(days=90))
    open_since: dict[str, tuple[datetime, str]] = {}
    found: list[Outage] = []
    with engine.connect() as connection:
        for row in connection.execute(query):
            if row.from_state == STATE_DOWN and row.integration in open_since:
                began, cause = open_since.pop(row.integration)
                if row.changed_at >= start:
                    found.append(Outage(row.integration, began, row.changed_at, cause))
            if row.to_state == STATE_DOWN:
                open_since[row.integration] = (row.changed_at, row.cause)
    found += [Outage(name, began, None, cause) for name, (began, cause) in open_since.items()]
    found.sort(key=lambda o: o.started_at, reverse=True)
    return found[:limit] if limit is not None else found


@dataclass(frozen=True)
class Failover:
    group: str
    switched_at: datetime
    from_integration: str | None
    to_integration: str | None
    reason: str


def failovers(engine: Engine, start: datetime, end: datetime, limit: int | None = None) -> list[Failover]:
    c = integration_failover_events.c
    query = (select(c.failover_group, c.switched_at, c.from_integration, c.to_integration, c.reason)
             .where(c.switched_at >= start, c.switched_at < end).order_by(c.switched_at.desc(), c.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [Failover(*row) for row in connection.execute(query)]


def failover_total(engine: Engine) -> dict[str, int]:
    c = integration_failover_events.c
    with engine.connect() as connection:
        return {g: int(n) for g, n in connection.execute(
            select(c.failover_group, func.count()).group_by(c.failover_group))}


@dataclass(frozen=True)
class RecentFigures:
    probes: int
    failed: int
    latency_p95_ms: float | None
    health_score: float  # 0..100, scored per probe as the integration assets score it (fast 100, slow 50, failed 0)

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.probes if self.probes else None


def recent_figures(engine: Engine, since: datetime, *, with_p95: bool = True) -> dict[str, RecentFigures]:
    """Probes, failures and the p95 latency per integration since ``since`` from raw probe results (keep the window
    short: an hour of 5,000 integrations probed each minute is 300,000 rows)."""
    r = integration_probe_results.c
    counted = r.outcome.in_(("up", "degraded", "failed"))
    with engine.connect() as connection:
        score = case(*((r.outcome == outcome, value) for outcome, value in SAMPLE_SCORE.items()), else_=0.0)
        counts = {row.integration: (int(row.probes), int(row.failed or 0), float(row.score or 0.0))
                  for row in connection.execute(
            select(r.integration, func.count().label("probes"),
                   func.sum(case((r.outcome == "failed", 1), else_=0)).label("failed"), func.avg(score).label("score"))
            .where(r.probed_at >= since, counted).group_by(r.integration))}
        latencies: dict[str, list[float]] = defaultdict(list)
        if with_p95:
            for name, latency in connection.execution_options(yield_per=20_000).execute(
                    select(r.integration, r.latency_ms).where(r.probed_at >= since, r.outcome.in_(("up", "degraded")),
                                                              r.latency_ms.is_not(None))):
                latencies[name].append(latency)
    result = {}
    for name, (probes, failed, health_score) in counts.items():
        result[name] = RecentFigures(probes, failed, percentile(latencies.get(name, []), 95), health_score)
    return result


@dataclass(frozen=True)
class HourPoint:
    hour: datetime
    probes: int
    failed: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    availability: float | None


def hourly_series(engine: Engine, integration: str, start: datetime, end: datetime) -> list[HourPoint]:
    """One integration's hourly rollups in [start, end): the latency and availability chart of its page."""
    h = integration_probe_hourly.c
    with engine.connect() as connection:
        rows = connection.execute(select(integration_probe_hourly).where(
            h.integration == integration, h.hour >= start, h.hour < end).order_by(h.hour)).all()
    points = []
    for row in rows:
        observed = row.seconds_up + row.seconds_degraded + row.seconds_pending + row.seconds_down
        points.append(HourPoint(row.hour, row.probes, row.failed, row.latency_p50_ms, row.latency_p95_ms,
                                None if observed <= 0 else 1.0 - row.seconds_down / observed))
    return points


def raw_series(engine: Engine, integration: str, start: datetime, end: datetime,
               limit: int = 5000) -> list[tuple[datetime, str, float | None]]:
    """One integration's latest probe results in [start, end), oldest first: (probed_at, outcome, latency_ms)."""
    r = integration_probe_results.c
    with engine.connect() as connection:
        rows = connection.execute(select(r.probed_at, r.outcome, r.latency_ms).where(
            r.integration == integration, r.probed_at >= start, r.probed_at < end, r.outcome != "skipped")
            .order_by(r.probed_at.desc()).limit(limit)).all()
    return [(row.probed_at, row.outcome, row.latency_ms) for row in reversed(rows)]


def usage(engine: Engine, start: date, end: date) -> dict[str, tuple[int, float]]:
    """(calls, cost) per integration over the days [start, end) (integration_usage_daily)."""
    u = integration_usage_days.c
    with engine.connect() as connection:
        return {row.integration: (int(row.calls), float(row.cost)) for row in connection.execute(
            select(u.integration, func.sum(u.calls).label("calls"), func.sum(u.cost).label("cost"))
            .where(u.day >= start, u.day < end).group_by(u.integration))}
