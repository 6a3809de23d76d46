"""Dagster glue of integration health: probe sensor, per-integration observations, daily assets, retention."""
