"""The raw retention of integration probe results as a daily op job: hourly rollups first, then the raw rows go.

Not part of the partitioned daily assets: pruning is about every day at once, so it runs once, on its own
schedule, and stays safe next to any number of day partitions (rollups are upserts)."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.specs import GROUP
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.integrations.history import downsample
from monitoring_pipeline.integrations.push import prune_pings


@dg.op(
    description="Rolls up every hour older than probing.raw_retention that still has raw probe results, then "
    "deletes those raw results (their hourly rollups stay, with no time limit) and older push pings (the latest of "
    "each kind stays). Idempotent; safe to run next to itself and to integration_health_daily runs.",
    tags={"domain": GROUP},
)
def prune_integration_probe_results(context: dg.OpExecutionContext, database: ProjectDatabaseResource,
                                    integrations: IntegrationsResource) -> dg.Output[None]:
    current = integrations.load()
    cutoff = datetime.now(UTC) - timedelta(seconds=current.probing.raw_retention)
    rolled, pruned = downsample(database.get_engine(), {i.name: i.interval for i in current.integrations}, cutoff)
    pings = prune_pings(database.get_engine(), cutoff)
    context.log.info("pruned %d raw probe results and %d push pings older than %s (%d hourly rows rolled up first)",
                     pruned, pings, cutoff.isoformat(timespec="seconds"), rolled)
    return dg.Output(None, metadata={"raw_rows_pruned": pruned, "hourly_rows_written": rolled,
                                     "pings_pruned": pings, "cutoff": cutoff.isoformat(timespec="seconds")})


@dg.job(description="Applies probing.raw_retention: raw probe results are rolled up hourly, then deleted.",
        tags={"domain": GROUP})
def integration_probe_retention_job() -> None:
    prune_integration_probe_results()


integration_probe_retention_schedule = dg.ScheduleDefinition(
    name="integration_probe_retention_schedule",
    job=integration_probe_retention_job,
    cron_schedule="45 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Once a day (00:45 UTC, after the daily health figures), prunes raw probe results older than "
    "probing.raw_retention.",
)
