"""Integration health's assets: each integration an external asset observed by the probe sensor, and the daily
health and usage figures with their SLA check."""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.specs import GROUP, OWNERS, SLA_CHECK, integration_key
from monitoring_pipeline.defs.shared.metadata import markdown_table
from monitoring_pipeline.defs.shared.partitions import partition_days
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.integrations.config import IntegrationConfig, IntegrationsFile
from monitoring_pipeline.integrations.daily import (
    DayHealth,
    IntegrationTarget,
    compute_day,
    compute_usage,
    write_day,
    write_usage,
)
from monitoring_pipeline.integrations.sla import TIMED_STATES
from monitoring_pipeline.integrations.state import STATE_UNKNOWN

# A figure with nothing observed behind it: the UI leaves a gap in its plot (and the value empty) rather than
# plotting a day without data as a perfect one.
NO_DATA = float("nan")
DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class DailyAssets:
    integration_health_daily: dg.AssetsDefinition
    integration_usage_daily: dg.AssetsDefinition


def integration_specs(config: IntegrationsFile) -> list[dg.AssetSpec]:
    """One external asset per integration: the third-party API itself, observed by the probe sensor."""
    return [
        dg.AssetSpec(
            key=integration_key(integration.name),
            group_name=GROUP,
            owners=OWNERS,
            kinds={integration.KIND},
            description=integration.description or _describe(integration),
            tags={"category": integration.category, "type": integration.type,
                  **({"group": integration.group} if integration.group else {})},
            metadata={
                "url": integration.target,
                "type": integration.type,
                "category": integration.category,
                "interval_seconds": integration.interval,
                "sla_percent": integration.sla,
                "failover_group": integration.failover.group if integration.failover else "",
                "depends_on": ", ".join(integration.depends_on),
            },
        )
        for integration in config.integrations
    ]


def _describe(integration: IntegrationConfig) -> str:
    if integration.type == "http":
        return f"{integration.category} API probed at {integration.target}"
    return f"{integration.category} {integration.type} integration: {integration.target}"


def targets(config: IntegrationsFile) -> list[IntegrationTarget]:
    return [IntegrationTarget(i.name, i.sla, i.interval, i.cost_per_call) for i in config.integrations]


def build_daily_assets(partitions: dg.DailyPartitionsDefinition, config: IntegrationsFile) -> DailyAssets:
    names = [integration.name for integration in config.integrations]

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "sql"},
        deps=[integration_key(name) for name in names],
        check_specs=[dg.AssetCheckSpec(
            SLA_CHECK, asset="integration_health_daily",
            description="ERROR when an integration's 30-day availability is below its SLA (budget spent); WARN when "
            "the day burnt more error budget than a day's share.",
        )],
    )
    def integration_health_daily(context: dg.AssetExecutionContext, database: ProjectDatabaseResource,
                                 integrations: IntegrationsResource) -> dg.MaterializeResult:
        """Per integration and UTC day: probes, time-based availability (maintenance and no-data time excluded;
        PENDING and DEGRADED count as available), p50/p95/p99 latency, error rate by class, time in each state,
        failover events, SLA met, and the 30-day error budget left; the day is rolled up hourly first. A figure
        without data behind it is NaN (a gap in the plot); observed_share__<name> is the share of the day with
        probe data."""
        current = integrations.load()
        engine = database.get_engine()
        now = datetime.now(UTC)
        figures: list[DayHealth] = []
        for day in partition_days(context):
            day_figures = compute_day(engine, targets(current), day)
            write_day(engine, day, day_figures, now)
            figures.extend(day_figures)
        latest = {f.integration: f for f in figures}  # over a multi-day run, the last day's figures
        breached = sorted(f.integration for f in latest.values() if f.breached)
        burning = sorted(f.integration for f in latest.values() if f.burning and not f.breached)
        return dg.MaterializeResult(
            metadata=_health_metadata(figures, latest, names),
            check_results=[dg.AssetCheckResult(
                check_name=SLA_CHECK,
                passed=not breached and not burning,
                severity=dg.AssetCheckSeverity.ERROR if breached else dg.AssetCheckSeverity.WARN,
                metadata={
                    "breached": len(breached),
                    "burning": len(burning),
                    "integrations": dg.MetadataValue.md(
                        "\n".join([f"- {n}: 30-day availability below SLA" for n in breached]
                                  + [f"- {n}: burning the error budget faster than it allows" for n in burning])
                        or "_all within budget_"),
                },
            )],
        )

    @dg.asset(
        partitions_def=partitions,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "sql"},
        deps=[integration_health_daily],
    )
    def integration_usage_daily(context: dg.AssetExecutionContext, database: ProjectDatabaseResource,
                                integrations: IntegrationsResource) -> dg.MaterializeResult:
        """Calls we made per integration and UTC day (probe attempts, retries included, and our own D&B client's
        calls) and their estimated cost (calls x cost_per_call)."""
        current = integrations.load()
        engine = database.get_engine()
        now = datetime.now(UTC)
        usage = []
        for day in partition_days(context):
            day_usage = compute_usage(engine, targets(current), day, current.call_costs)
            write_usage(engine, day, day_usage, now)
            usage.extend(day_usage)
        metadata: dict[str, object] = {
            "calls": sum(u.calls for u in usage),
            "cost": round(sum(u.cost for u in usage), 4),
            "dnb_calls": sum(u.calls for u in usage if u.integration == "dnb"),
        }
        totals: dict[str, list[float]] = {}
        for u in usage:
            totals.setdefault(u.integration, [0, 0.0])
            totals[u.integration][0] += u.calls
            totals[u.integration][1] += u.cost
        for name in [*names, *sorted(set(totals) - set(names))]:
            calls, cost = totals.get(name, [0, 0.0])
            metadata[f"calls__{name}"] = int(calls)
            metadata[f"cost__{name}"] = round(cost, 4)
        metadata["preview"] = markdown_table([
            {"integration": n, "calls": int(c), "cost": round(k, 4)} for n, (c, k) in sorted(totals.items())
        ], empty="_no calls_")
        return dg.MaterializeResult(metadata=metadata)

    return DailyAssets(integration_health_daily, integration_usage_daily)


def _health_metadata(figures: list[DayHealth], latest: dict[str, DayHealth], names: list[str]) -> dict[str, object]:
    availabilities = [f.availability for f in latest.values() if f.availability is not None]
    metadata: dict[str, object] = {
        "integrations": len(latest),
        "probes": sum(f.probes for f in figures),
        "failed_probes": sum(f.failed for f in figures),
        "failover_events": sum(f.failover_events for f in figures),
        "availability_min": round(min(availabilities), 6) if availabilities else NO_DATA,
        "observed_share_min": round(min((_observed_share(latest.get(n)) for n in names), default=0.0), 6),
        "sla_breached": sum(1 for f in latest.values() if f.breached),
        "sla_burning": sum(1 for f in latest.values() if f.burning),
        "seconds_down": round(sum(f.seconds["DOWN"] for f in figures), 1),
    }
    for name in names:  # same keys every partition: each plots across days in the UI
        f = latest.get(name)
        metadata[f"availability__{name}"] = _figure(f.availability if f else None, 6)
        metadata[f"p95_ms__{name}"] = _figure(f.latency_p95_ms if f else None, 1)
        metadata[f"budget_left__{name}"] = _figure(f.budget_remaining if f else None, 4)
        metadata[f"observed_share__{name}"] = round(_observed_share(f), 6)
    metadata["preview"] = markdown_table([
        {
            "integration": f.integration,
            "availability": "n/a" if f.availability is None else f"{f.availability:.4%}",
            "p50/p95/p99 ms": "/".join("-" if v is None else f"{v:.0f}"
                                       for v in (f.latency_p50_ms, f.latency_p95_ms, f.latency_p99_ms)),
            "error rate": f"{f.error_rate:.2%}",
            "down s": f"{f.seconds['DOWN']:.0f}",
            "SLA met": {True: "yes", False: "no", None: "n/a"}[f.sla_met],
            "budget left": "n/a" if f.budget_remaining is None else f"{f.budget_remaining:.1%}",
        }
        for f in latest.values()
    ], empty="_no integrations configured_")
    return metadata


def _figure(value: float | None, digits: int) -> float:
    return NO_DATA if value is None else round(value, digits)


def _observed_share(figures: DayHealth | None) -> float:
    """Share of the day covered by probe results (any state but UNKNOWN, maintenance included)."""
    if figures is None:
        return 0.0
    observed = sum(figures.seconds[state] for state in TIMED_STATES if state != STATE_UNKNOWN)
    return min(1.0, observed / DAY_SECONDS)
