"""The settings and partitions the Dagster wiring tests build definitions with."""

from datetime import date
from pathlib import Path

from monitoring_pipeline.defs.shared.partitions import daily_partitions
from monitoring_pipeline.settings import ProjectSettings

SETTINGS = ProjectSettings(
    home=Path("unused"),
    database_url="unused",
    data_dir=Path("unused"),
    partitions_start=date(2026, 1, 1),
    registrations_dir=Path("unused"),
    integrations_file=Path("unused"),
    formats=("json", "csv", "parquet"),
    gzip=False,
    sensor_interval_seconds=30,
    tick_budget_seconds=30,
    run_interval_seconds=300,
    landing_max_age_minutes=30,
)
PARTITIONS = daily_partitions(SETTINGS)
