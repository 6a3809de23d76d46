"""Dagster glue every domain uses: the project database resource, daily partitions, metadata helpers."""
