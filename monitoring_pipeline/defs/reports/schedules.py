"""When reports are made: the daily one after its day closes (08:00 UTC by default), the weekly one after its week."""

from __future__ import annotations

from datetime import UTC, timedelta

import dagster as dg

from monitoring_pipeline.ops.config import ReportsConfig

WEEKDAY_NUMBER = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def build_report_schedules(config: ReportsConfig, daily_job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition,
                           weekly_job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition
                           ) -> list[dg.ScheduleDefinition]:
    hour, minute = (int(part) for part in config.daily_at.split(":"))

    @dg.schedule(name="daily_report_schedule", cron_schedule=f"{minute} {hour} * * *", execution_timezone="UTC",
                 job=daily_job, default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"At {config.daily_at} UTC, the report of the day before.")
    def daily_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"daily_report:{day}", partition_key=day)

    @dg.schedule(name="weekly_report_schedule",
                 cron_schedule=f"{minute} {hour} * * {WEEKDAY_NUMBER[config.weekly_on]}", execution_timezone="UTC",
                 job=weekly_job, default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"On {config.weekly_on} at {config.daily_at} UTC, the report of the 7 days before.")
    def weekly_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        first = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=7)).date().isoformat()
        return dg.RunRequest(run_key=f"weekly_report:{first}", partition_key=first)

    return [daily_report_schedule, weekly_report_schedule]
