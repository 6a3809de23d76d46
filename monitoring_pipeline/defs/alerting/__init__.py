"""Dagster glue of alerting (monitoring_pipeline.alerting): evaluation sensor, alert history."""
