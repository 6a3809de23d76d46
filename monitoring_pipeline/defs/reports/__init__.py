"""Dagster glue of the reports (monitoring_pipeline.reports): daily and weekly report assets."""
