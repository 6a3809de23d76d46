"""daily_report and weekly_report: rendered from the project database, stored, and e-mailed."""

from datetime import date

import dagster as dg

from monitoring_pipeline.defs.reports.resources import ReportsResource
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.reports.figures import Period, daily, weekly

GROUP = "reports"


def _materialize(context: dg.AssetExecutionContext, reports: ReportsResource, database: ProjectDatabaseResource,
                 period: Period) -> dg.MaterializeResult:
    outcome = reports.produce(database.get_engine(), period)
    if outcome.mail_error:
        context.log.warning(f"report stored, but not e-mailed: {outcome.mail_error}")
    return dg.MaterializeResult(metadata={
        **outcome.figures.metadata(),
        "path": dg.MetadataValue.path(str(outcome.path)),
        "headline": outcome.figures.headline,
        "emailed_to": len(outcome.recipients) if outcome.mail_error is None else 0,
    })


def build_report_assets(daily_partitions: dg.PartitionsDefinition, weekly_partitions: dg.PartitionsDefinition
                        ) -> list[dg.AssetsDefinition]:
    @dg.asset(name="daily_report", group_name=GROUP, partitions_def=daily_partitions, kinds={"html", "email"},
              description="The day's report (D&B, integrations, alerts, destinations) as HTML with charts under "
                          "<data dir>/reports/YYYY/MM/DD/, e-mailed to the configured recipients.")
    def daily_report(context: dg.AssetExecutionContext, reports: ReportsResource,
                     database: ProjectDatabaseResource) -> dg.MaterializeResult:
        return _materialize(context, reports, database, daily(date.fromisoformat(context.partition_key)))

    @dg.asset(name="weekly_report", group_name=GROUP, partitions_def=weekly_partitions, kinds={"html", "email"},
              description="The week's report (seven UTC days from the partition's first day), stored beside the "
                          "daily ones and e-mailed.")
    def weekly_report(context: dg.AssetExecutionContext, reports: ReportsResource,
                      database: ProjectDatabaseResource) -> dg.MaterializeResult:
        return _materialize(context, reports, database, weekly(date.fromisoformat(context.partition_key)))

    return [daily_report, weekly_report]
