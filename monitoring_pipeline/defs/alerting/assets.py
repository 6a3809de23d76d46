"""alert_engine (the engine itself, an external asset its sensor observes) and alert_history_daily (what alerting
did each UTC day, as numeric metadata the UI plots across partitions)."""


import math
from datetime import UTC, datetime, timedelta

import dagster as dg

from monitoring_pipeline.alerting.model import SEVERITIES
from monitoring_pipeline.alerting.queries import AlertStatistics, statistics
from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.defs.alerting.specs import ALERT_ENGINE, GROUP, HISTORY_ASSET, OWNERS
from monitoring_pipeline.defs.shared.metadata import markdown_table
from monitoring_pipeline.defs.shared.partitions import partition_days
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource

alert_engine_spec = dg.AssetSpec(
    key=ALERT_ENGINE,
    group_name=GROUP,
    owners=OWNERS,
    description="The alert engine: alert_evaluation_sensor observes how many alerts are firing (per severity), "
    "pending, acknowledged and muted; its alerting_healthy check fails while evaluation falls behind or a receiver "
    "is broken. `monitoring-pipeline alerts list` shows the alerts themselves.",
)


def build_history_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=HISTORY_ASSET,
        group_name=GROUP,
        owners=OWNERS,
        partitions_def=partitions,
        description="Per UTC day: alerts fired by severity and rule, times to acknowledge and resolve (p50/p95), the "
        "noisiest rules, and notifications delivered and failed (from the delivery log).",
    )
    def alert_history_daily(context: dg.AssetExecutionContext, database: ProjectDatabaseResource,
                            alerting: AlertingResource) -> dg.MaterializeResult:
        days = partition_days(context)
        start = datetime.combine(days[0], datetime.min.time(), UTC)
        end = datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(days=1)
        with database.get_engine().connect() as connection:
            stats = statistics(connection, start, end, noisiest=10)
        config, _ = alerting.load()
        return dg.MaterializeResult(metadata=history_metadata(stats, [r.name for r in config.rules]))

    return alert_history_daily


def history_metadata(stats: AlertStatistics, rules: list[str]) -> dict[str, object]:
    """Stable keys: every severity and every configured rule is present (0 when quiet), durations in minutes (NaN,
    a gap in the plot, when nothing was acknowledged or resolved)."""
    metadata: dict[str, object] = {
        "alerts_fired": stats.fired,
        "alerts_acknowledged": stats.acknowledged,
        "alerts_resolved": stats.resolved,
        "notifications_sent": stats.notifications_sent,
        "notifications_failed": stats.notifications_failed,
        "time_to_acknowledge_p50_minutes": _minutes(stats.time_to_acknowledge_p50),
        "time_to_acknowledge_p95_minutes": _minutes(stats.time_to_acknowledge_p95),
        "time_to_resolve_p50_minutes": _minutes(stats.time_to_resolve_p50),
        "time_to_resolve_p95_minutes": _minutes(stats.time_to_resolve_p95),
    }
    for severity in SEVERITIES:
        metadata[f"fired_{severity}"] = stats.by_severity.get(severity, 0)
    for rule in sorted(set(rules) | set(stats.by_rule)):
        metadata[f"fired__{rule}"] = stats.by_rule.get(rule, 0)
    metadata["noisiest_rules"] = markdown_table(
        [{"rule": n.rule, "fired": n.fired, "severity": n.severity} for n in stats.noisiest], empty="_no alerts_")
    return metadata


def _minutes(seconds: float | None) -> float:
    return round(seconds / 60.0, 2) if seconds is not None else math.nan
