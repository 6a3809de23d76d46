"""Everything reports add to the code location; its ``database`` resource comes from the shared definitions."""

from __future__ import annotations

import dagster as dg

from monitoring_pipeline.defs.reports.assets import build_report_assets
from monitoring_pipeline.defs.reports.resources import ReportsResource
from monitoring_pipeline.defs.reports.schedules import WEEKDAY_NUMBER, build_report_schedules
from monitoring_pipeline.ops.config import load_ops_config
from monitoring_pipeline.settings import ProjectSettings


def report_definitions(settings: ProjectSettings, daily_partitions: dg.DailyPartitionsDefinition) -> dg.Definitions:
    config = load_ops_config(settings.ops.config_file).reports  # a bad ops file fails the load, naming the field
    weekly_partitions = dg.WeeklyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(), timezone="UTC",
        day_offset=WEEKDAY_NUMBER[config.weekly_on], hour_offset=0, minute_offset=0)
    daily_report, weekly_report = build_report_assets(daily_partitions, weekly_partitions)
    daily_job = dg.define_asset_job("daily_report_job", selection=[daily_report])
    weekly_job = dg.define_asset_job("weekly_report_job", selection=[weekly_report])
    return dg.Definitions(
        assets=[daily_report, weekly_report],
        jobs=[daily_job, weekly_job],
        schedules=build_report_schedules(config, daily_job, weekly_job),
        resources={"reports": ReportsResource(
            reports_dir=str(settings.reports_dir),
            ops_config_file=str(settings.ops.config_file) if settings.ops.config_file else None,
            integrations_file=str(settings.integrations_file),
            alerting_file=str(settings.alerting_file),
            rate_limit_per_second=settings.dnb.rate_limit_per_second)},
    )
