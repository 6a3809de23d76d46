"""Schedules of alerting: yesterday's history once the day is over, and the health check every 5 minutes (it must
not depend on the sensor it judges)."""

from datetime import UTC, timedelta

import dagster as dg


def build_history_schedule(job) -> dg.ScheduleDefinition:  # type: ignore[no-untyped-def]
    @dg.schedule(name="alert_history_daily_schedule", cron_schedule="20 0 * * *", execution_timezone="UTC", job=job,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Once a UTC day is over, computes its alert history.")
    def alert_history_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"alert_history:{day}", partition_key=day)

    return alert_history_daily_schedule


def build_health_schedule(job) -> dg.ScheduleDefinition:  # type: ignore[no-untyped-def]
    return dg.ScheduleDefinition(name="alerting_healthy_schedule", job=job, cron_schedule="*/5 * * * *",
                                 default_status=dg.DefaultScheduleStatus.RUNNING,
                                 description="Runs the alerting_healthy check every 5 minutes.")
