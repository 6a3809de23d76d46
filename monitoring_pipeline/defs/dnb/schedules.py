"""Schedules of the D&B side."""

from dataclasses import dataclass
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class FreshnessSchedule:
    job: dg.JobDefinition | Any  # an unresolved asset job until Definitions resolves it
    schedule: dg.ScheduleDefinition


def build_landing_freshness_schedule(landing_freshness: dg.AssetChecksDefinition) -> FreshnessSchedule:
    """A job running only the landing freshness check, every 10 minutes."""
    job = dg.define_asset_job("landing_freshness_check", selection=dg.AssetSelection.checks(landing_freshness))
    schedule = dg.ScheduleDefinition(
        job=job,
        cron_schedule="*/10 * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Checks every 10 minutes that each registration was pulled recently.",
    )
    return FreshnessSchedule(job, schedule)
