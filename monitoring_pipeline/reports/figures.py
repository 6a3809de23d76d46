"""What a report says, gathered from the project database for one period of whole UTC days.

Only data of the period is used (never "now"), so re-rendering a past day gives the same report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, select

from monitoring_pipeline.integrations.config import IntegrationConfig
from monitoring_pipeline.ops import alert_reads, delivery_reads, dnb_reads, integration_reads
from monitoring_pipeline.ops.integration_reads import day_start
from monitoring_pipeline.ops.provider_incidents import ProviderIncident, incidents_between
from monitoring_pipeline.storage.schema import destination_status, dnb_file_manifest, integration_health_days

DAY_SECONDS = 86400


@dataclass(frozen=True)
class Period:
    kind: str  # daily | weekly
    start: date  # first day
    end: date  # the day after the last

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        if self.days == 1:
            return self.start.strftime("%A %d %B %Y")
        return f"{self.start:%d %b} – {self.end - timedelta(days=1):%d %b %Y}"

    @property
    def start_at(self) -> datetime:
        return day_start(self.start)

    @property
    def end_at(self) -> datetime:
        return day_start(self.end)


def daily(day: date) -> Period:
    return Period("daily", day, day + timedelta(days=1))


def weekly(first_day: date) -> Period:
    return Period("weekly", first_day, first_day + timedelta(days=7))


@dataclass(frozen=True)
class IntegrationLine:
    name: str
    category: str
    sla: float
    availability: float | None
    budget_remaining: float | None  # share of the 30-day error budget left at the period's end
    latency_p95_ms: float | None
    downtime_seconds: float
    failovers: int
    calls: int
    cost: float

    @property
    def sla_met(self) -> bool | None:
        return None if self.availability is None else self.availability * 100 >= self.sla


@dataclass
class ReportFigures:
    period: Period
    # D&B
    notifications: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_registration: Counter[str] = field(default_factory=Counter)
    trend: list[tuple[date, int]] = field(default_factory=list)  # the period's days and the days before it
    notable: list[dnb_reads.CompanyEvent] = field(default_factory=list)
    notable_total: int = 0
    changes: list[dnb_reads.CompanyEvent] = field(default_factory=list)
    changes_total: int = 0
    quarantined: int = 0
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    landing_mean_seconds: float | None = None
    landing_within_60s: float | None = None
    dnb_calls: int = 0
    dnb_budget_calls: int = 0
    # integrations
    integrations: list[IntegrationLine] = field(default_factory=list)
    outages: list[integration_reads.Outage] = field(default_factory=list)
    failovers: list[integration_reads.Failover] = field(default_factory=list)
    provider_incidents: list[ProviderIncident] = field(default_factory=list)
    total_cost: float = 0.0
    # alerts and deliveries
    alerts_available: bool = False
    alert_stats: alert_reads.AlertStatistics = field(default_factory=alert_reads.AlertStatistics)
    noisy_rules: list[alert_reads.RuleNoise] = field(default_factory=list)
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    failed_deliveries: list[delivery_reads.FailedDelivery] = field(default_factory=list)
    # destinations
    destinations: list[dict[str, object]] = field(default_factory=list)

    @property
    def missed_sla(self) -> list[IntegrationLine]:
        return [line for line in self.integrations if line.sla_met is False]

    @property
    def problems(self) -> list[str]:
        """What broke, in a sentence each; empty when all was well (the headline)."""
        found = []
        if self.missed_sla:
            found.append(f"{len(self.missed_sla)} integration(s) missed their SLA: "
                         + ", ".join(line.name for line in self.missed_sla[:5]))
        if self.outages:
            minutes = sum(o.duration_seconds(self.period.end_at) for o in self.outages) / 60
            found.append(f"{len(self.outages)} outage(s), {minutes:.0f} minutes down in all")
        if self.quarantined:
            found.append(f"{self.quarantined} D&B notification(s) quarantined")
        failed = sum(n for (_channel, outcome), n in self.deliveries.items() if outcome == "failed")
        if failed:
            found.append(f"{failed} notification delivery attempt(s) failed")
        broken = [d["destination"] for d in self.destinations if d["failed"]]
        if broken:
            found.append("destination(s) failing: " + ", ".join(str(b) for b in broken))
        return found

    @property
    def headline(self) -> str:
        return "All well" if not self.problems else "Needs attention"

    def metadata(self) -> dict[str, float | int]:
        """Headline figures with stable keys (the Dagster UI plots them across partitions)."""
        availabilities = [line.availability for line in self.integrations if line.availability is not None]
        return {
            "notifications": self.notifications,
            "notable_company_events": self.notable_total,
            "quarantined": self.quarantined,
            "dnb_calls": self.dnb_calls,
            "integrations_missed_sla": len(self.missed_sla),
            "outages": len(self.outages),
            "failovers": len(self.failovers),
            "mean_availability": round(sum(availabilities) / len(availabilities), 6) if availabilities else 0.0,
            "alerts_fired": self.alert_stats.fired,
            "failed_deliveries": sum(n for (_c, outcome), n in self.deliveries.items() if outcome == "failed"),
            "problems": len(self.problems),
        }


def gather(engine: Engine, period: Period, integrations: Sequence[IntegrationConfig], rate_limit_per_second: float,
           trend_days: int = 14, noisy_rules: int = 5) -> ReportFigures:
    """Everything the report shows for ``period``."""
    figures = ReportFigures(period)
    start, end = period.start, period.end
    counts = dnb_reads.counts_by_registration_and_type(engine, start, end)
    for (reference, kind), count in counts.items():
        figures.by_type[kind] += count
        figures.by_registration[reference] += count
    figures.notifications = sum(counts.values())
    trend_start = end - timedelta(days=max(trend_days, period.days))
    by_day = dnb_reads.counts_by_day(engine, trend_start, end)
    figures.trend = [(trend_start + timedelta(days=n), by_day.get(trend_start + timedelta(days=n), 0))
                     for n in range((end - trend_start).days)]
    figures.notable, figures.notable_total = dnb_reads.notable_events(engine, start, end)
    figures.changes, figures.changes_total = dnb_reads.name_and_address_changes(engine, start, end)
    figures.quarantined = dnb_reads.quarantine_counts(engine, start, end)
    figures.quarantine_reasons = dnb_reads.quarantine_reasons(engine, start, end)
    buckets, count, total = dnb_reads.landing_histogram(engine, start, end)
    if count:
        figures.landing_mean_seconds = total / count
        figures.landing_within_60s = buckets[dnb_reads.LANDING_BUCKETS.index(60.0)] / count
    figures.dnb_calls = dnb_reads.dnb_calls(engine, start, end)
    figures.dnb_budget_calls = int(rate_limit_per_second * DAY_SECONDS * period.days)
    _integrations(engine, figures, integrations)
    figures.alerts_available = alert_reads.alerts_available(engine)
    figures.alert_stats = alert_reads.alert_statistics(engine, period.start_at, period.end_at)
    figures.noisy_rules = alert_reads.noisiest_rules(engine, period.start_at, period.end_at, noisy_rules)
    figures.deliveries = delivery_reads.deliveries_by_channel_and_outcome(engine, period.start_at, period.end_at)
    figures.failed_deliveries = delivery_reads.failed_deliveries(engine, period.start_at, period.end_at)
    figures.destinations = _destinations(engine, period)
    return figures


def _integrations(engine: Engine, figures: ReportFigures, integrations: Sequence[IntegrationConfig]) -> None:
    period = figures.period
    h = integration_health_days.c
    with engine.connect() as connection:
        rows = connection.execute(select(h.integration, h.day, h.availability, h.latency_p95_ms, h.seconds_down,
                                         h.failover_events, h.budget_remaining)
                                  .where(h.day >= period.start, h.day < period.end).order_by(h.day)).all()
    by_name: dict[str, list] = {}  # type: ignore[type-arg]
    for row in rows:
        by_name.setdefault(row.integration, []).append(row)
    usage = integration_reads.usage(engine, period.start, period.end)
    for config in integrations:
        days = by_name.get(config.name, [])
        observed = [d.availability for d in days if d.availability is not None]
        p95s = [d.latency_p95_ms for d in days if d.latency_p95_ms is not None]
        calls, cost = usage.get(config.name, (0, 0.0))
        figures.integrations.append(IntegrationLine(
            name=config.name, category=config.category, sla=config.sla,
            availability=sum(observed) / len(observed) if observed else None,
            budget_remaining=days[-1].budget_remaining if days else None,
            latency_p95_ms=max(p95s) if p95s else None,
            downtime_seconds=sum(d.seconds_down for d in days), failovers=sum(d.failover_events for d in days),
            calls=calls, cost=cost))
    figures.integrations.sort(key=lambda line: (line.sla_met is not False, line.availability or 0.0, line.name))
    figures.total_cost = sum(line.cost for line in figures.integrations)
    figures.outages = [o for o in integration_reads.outages(engine, period.start_at, period.end_at)
                       if o.started_at < period.end_at]
    # An outage still open at the period's end is shown as lasting until then (a re-render gives the same).
    figures.outages = [o if o.ended_at is not None and o.ended_at <= period.end_at
                       else integration_reads.Outage(o.integration, o.started_at, None, o.cause)
                       for o in figures.outages]
    figures.failovers = integration_reads.failovers(engine, period.start_at, period.end_at)
    figures.provider_incidents = [i for i in incidents_between(engine, period.start_at, period.end_at)
                                  if i.started_at < period.end_at]


def _destinations(engine: Engine, period: Period) -> list[dict[str, object]]:
    m = dnb_file_manifest.c
    with engine.connect() as connection:
        written = connection.execute(
            select(m.destination, func.count(), func.coalesce(func.sum(m.bytes), 0))
            .where(m.delivery_day >= period.start, m.delivery_day < period.end).group_by(m.destination)).all()
        statuses = {row.destination: row for row in connection.execute(select(destination_status))}
    rows = []
    for name in sorted({row[0] for row in written} | set(statuses)):
        files, size = next(((int(r[1]), int(r[2])) for r in written if r[0] == name), (0, 0))
        status = statuses.get(name)
        failed_in_period = bool(status and status.last_error and status.last_error_at
                                and period.start_at <= status.last_error_at < period.end_at)
        rows.append({"destination": name, "files": files, "bytes": size, "failed": failed_in_period,
                     "error": status.last_error if failed_in_period and status else None})
    return rows
