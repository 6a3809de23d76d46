"""Dagster wiring only: resources, assets, checks, sensors, schedules and jobs."""
