"""One partition per UTC delivery day."""

from datetime import date, timedelta

import dagster as dg

from monitoring_pipeline.settings import NotificationSettings

TRIGGER_TAG = "monitoring_pipeline/trigger"
LANDING_TRIGGER = "landing"
CATCH_UP_TRIGGER = "catch_up"  # destination_catch_up_sensor: copy what a destination missed, nothing else


def daily_partitions(settings: NotificationSettings) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists while notifications for it are still landing.
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(), end_offset=1, timezone="UTC"
    )


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """Every day of the run's partition range (a backfill may hand one run several days)."""
    window = context.partition_time_window
    day, end = window.start.date(), window.end.date()
    days = []
    while day < end:
        days.append(day)
        day += timedelta(days=1)
    return days


def is_landing_run(context: dg.AssetExecutionContext) -> bool:
    """Runs requested by the landing sensor are incremental; backfills and manual runs rebuild and replay."""
    return context.run.tags.get(TRIGGER_TAG) == LANDING_TRIGGER


def is_incremental_run(context: dg.AssetExecutionContext) -> bool:
    """Runs of the landing and catch-up sensors do only the new work; any other run rebuilds its days."""
    return context.run.tags.get(TRIGGER_TAG) in (LANDING_TRIGGER, CATCH_UP_TRIGGER)
