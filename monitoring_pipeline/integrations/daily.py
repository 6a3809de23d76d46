"""Daily health and usage figures per integration, written idempotently (upsert per day and integration, so runs
of the same day at once do not collide)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, Table, delete, func, or_, select

from monitoring_pipeline.integrations.history import HOUR, floor_hour, latency_values, raw_rows, rollup
from monitoring_pipeline.integrations.sla import (
    BUDGET_DAYS,
    TIMED_STATES,
    availability,
    burn_rate,
    empty_seconds,
    error_budget,
    histogram_percentile,
    merge_histograms,
    percentile,
)
from monitoring_pipeline.storage.schema import (
    dnb_api_errors,
    integration_call_counts,
    integration_failover_events,
    integration_health_days,
    integration_probe_hourly,
    integration_usage_days,
)
from monitoring_pipeline.storage.upsert import add_counts, upsert


@dataclass(frozen=True)
class IntegrationTarget:
    """What the daily figures need to know about one configured integration."""

    name: str
    sla: float
    interval: float
    cost_per_call: float


@dataclass(frozen=True)
class DayHealth:
    day: date
    integration: str
    probes: int
    failed: int
    availability: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_rate: float
    errors_by_class: dict[str, int]
    seconds: dict[str, float]
    failover_events: int
    sla_target: float
    sla_met: bool | None
    availability_30d: float | None
    budget_remaining: float | None
    burn_rate: float | None
    source: str  # raw | hourly

    @property
    def breached(self) -> bool:
        """The 30-day availability is below the SLA: the error budget is spent."""
        return self.availability_30d is not None and self.availability_30d < self.sla_target / 100.0

    @property
    def burning(self) -> bool:
        """The day used more downtime than the budget allows per day."""
        return self.burn_rate is not None and self.burn_rate > 1.0

    def row(self, computed_at: datetime) -> dict[str, object]:
        values = asdict(self)
        seconds = values.pop("seconds")
        values["errors_by_class"] = json.dumps(self.errors_by_class, sort_keys=True)
        values.update({f"seconds_{state.lower()}": round(seconds[state], 3) for state in TIMED_STATES})
        values["computed_at"] = computed_at
        return values


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def compute_day(engine: Engine, targets: Sequence[IntegrationTarget], day: date,
                now: datetime | None = None) -> list[DayHealth]:
    """Roll up the day's raw results (where still kept), then the day's figures and the 30-day budget.

    For today, hours that have not begun are not rolled up (they would only say UNKNOWN).
    """
    start, end = day_bounds(day)
    intervals = {t.name: t.interval for t in targets}
    now = now or datetime.now(UTC)
    rolled_until = min(end, floor_hour(now) + HOUR)
    if rolled_until > start:
        rollup(engine, intervals, start, rolled_until, [t.name for t in targets])
    budget_start = start - timedelta(days=BUDGET_DAYS - 1)
    hourly = _hourly_by_integration(engine, start, end)
    thirty_days = _seconds_by_integration(engine, budget_start, end)
    failovers = _failover_counts(engine, start, end)
    figures = []
    for target in targets:
        rows = hourly.get(target.name, [])
        seconds = empty_seconds()
        errors: dict[str, int] = {}
        for row in rows:
            for state in TIMED_STATES:
                seconds[state] += getattr(row, f"seconds_{state.lower()}")
            for error_class, count in json.loads(row.errors_by_class).items():
                errors[error_class] = errors.get(error_class, 0) + count
        probes = sum(row.probes for row in rows)
        failed = sum(row.failed for row in rows)
        latencies = latency_values(raw_rows(engine, target.name, start, end))
        if latencies:
            p50, p95, p99, source = (percentile(latencies, 50), percentile(latencies, 95),
                                     percentile(latencies, 99), "raw")
        else:
            merged = merge_histograms(json.loads(row.latency_histogram) for row in rows)
            p50, p95, p99 = (histogram_percentile(merged, q) for q in (50, 95, 99))
            source = "hourly" if rows and sum(merged.values()) else "raw"
        day_availability = availability(seconds)
        budget = error_budget(target.sla, thirty_days.get(target.name, empty_seconds()))
        figures.append(DayHealth(
            day=day, integration=target.name, probes=probes, failed=failed, availability=day_availability,
            latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99,
            error_rate=failed / probes if probes else 0.0, errors_by_class=dict(sorted(errors.items())),
            seconds=seconds, failover_events=failovers.get(target.name, 0), sla_target=target.sla,
            sla_met=None if day_availability is None else day_availability >= target.sla / 100.0,
            availability_30d=budget.availability, budget_remaining=budget.budget_remaining,
            burn_rate=burn_rate(target.sla, seconds), source=source,
        ))
    return figures


def write_day(engine: Engine, day: date, figures: Sequence[DayHealth], computed_at: datetime) -> None:
    _replace_day(engine, integration_health_days, day, [f.row(computed_at) for f in figures])


def _replace_day(engine: Engine, table: Table, day: date, rows: Sequence[dict[str, object]]) -> None:
    """The day's rows become ``rows``: upserted, and rows of integrations no longer listed deleted."""
    with engine.begin() as connection:
        connection.execute(delete(table).where(
            table.c.day == day, table.c.integration.not_in([row["integration"] for row in rows])))
        upsert(connection, table, rows, ("day", "integration"))


@dataclass(frozen=True)
class DayUsage:
    day: date
    integration: str
    calls: int
    cost_per_call: float
    cost: float


def compute_usage(engine: Engine, targets: Sequence[IntegrationTarget], day: date,
                  other_costs: Mapping[str, float]) -> list[DayUsage]:
    """Calls we made per integration that day (probe attempts, retries included) and calls counted elsewhere
    (our own D&B client), each with its estimated cost. Run after ``compute_day`` (which rolls the day up)."""
    start, end = day_bounds(day)
    with engine.connect() as connection:
        probe_calls = dict(connection.execute(
            select(integration_probe_hourly.c.integration, func.sum(integration_probe_hourly.c.calls))
            .where(integration_probe_hourly.c.hour >= start, integration_probe_hourly.c.hour < end)
            .group_by(integration_probe_hourly.c.integration)
        ).all())
        counted = dict(connection.execute(
            select(integration_call_counts.c.integration, integration_call_counts.c.calls)
            .where(integration_call_counts.c.day == day)
        ).all())
    usage = []
    for target in targets:
        calls = int(probe_calls.get(target.name) or 0) + int(counted.pop(target.name, 0))
        usage.append(DayUsage(day, target.name, calls, target.cost_per_call, calls * target.cost_per_call))
    for name in sorted(set(counted) | set(other_costs)):
        if name in {t.name for t in targets}:
            continue
        calls = int(counted.get(name, 0))
        cost_per_call = float(other_costs.get(name, 0.0))
        usage.append(DayUsage(day, name, calls, cost_per_call, calls * cost_per_call))
    return usage


def write_usage(engine: Engine, day: date, usage: Sequence[DayUsage], computed_at: datetime) -> None:
    _replace_day(engine, integration_usage_days, day, [{**asdict(u), "computed_at": computed_at} for u in usage])


def record_calls(engine: Engine, integration: str, calls: int, day: date) -> None:
    """Add ``calls`` to the day's count for ``integration`` (atomic across processes)."""
    if calls <= 0:
        return
    with engine.begin() as connection:
        add_counts(connection, integration_call_counts, [{"day": day, "integration": integration, "calls": calls}],
                   ["day", "integration"], "calls")


def record_dnb_errors(engine: Engine, errors: Mapping[str, int], day: date) -> None:
    """Add the day's failed D&B calls, by reason (``dnb.errors.error_reason``), to the counts every process shares."""
    rows = [{"day": day, "reason": reason, "errors": count} for reason, count in sorted(errors.items()) if count > 0]
    with engine.begin() as connection:
        add_counts(connection, dnb_api_errors, rows, ["day", "reason"], "errors")


def _hourly_by_integration(engine: Engine, start: datetime, end: datetime) -> dict[str, list]:  # type: ignore[type-arg]
    grouped: dict[str, list] = {}  # type: ignore[type-arg]
    with engine.connect() as connection:
        rows = connection.execute(
            select(integration_probe_hourly)
            .where(integration_probe_hourly.c.hour >= start, integration_probe_hourly.c.hour < end)
            .order_by(integration_probe_hourly.c.integration, integration_probe_hourly.c.hour)
        ).all()
    for row in rows:
        grouped.setdefault(row.integration, []).append(row)
    return grouped


def _seconds_by_integration(engine: Engine, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    table = integration_probe_hourly
    columns = [func.sum(table.c[f"seconds_{state.lower()}"]) for state in TIMED_STATES]
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.integration, *columns).where(table.c.hour >= start, table.c.hour < end)
            .group_by(table.c.integration)
        ).all()
    return {row[0]: {state: float(value or 0.0) for state, value in zip(TIMED_STATES, row[1:], strict=True)}
            for row in rows}


def _failover_counts(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    table = integration_failover_events
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.from_integration, table.c.to_integration)
            .where(table.c.switched_at >= start, table.c.switched_at < end,
                   or_(table.c.from_integration.is_not(None), table.c.to_integration.is_not(None)))
        ).all()
    for row in rows:
        for name in {row.from_integration, row.to_integration} - {None}:
            counts[name] = counts.get(name, 0) + 1
    return counts
