"""Schedules of integration health: the daily figures once a day is over (retention has its own, retention.py)."""

from datetime import UTC, timedelta

import dagster as dg


def build_daily_schedule(job) -> dg.ScheduleDefinition:  # type: ignore[no-untyped-def]
    @dg.schedule(
        name="integration_health_daily_schedule",
        cron_schedule="15 0 * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Once a UTC day is over, computes its health and usage figures.",
    )
    def integration_health_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"integration_health:{day}", partition_key=day)

    return integration_health_daily_schedule
