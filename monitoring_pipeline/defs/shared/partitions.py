"""One partition per UTC day, for every daily asset of the project."""

from datetime import date, timedelta

import dagster as dg

from monitoring_pipeline.settings import ProjectSettings


def daily_partitions(settings: ProjectSettings) -> dg.DailyPartitionsDefinition:
    """The project's daily partitions; built once in ``definitions.py`` and handed to every domain."""
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
