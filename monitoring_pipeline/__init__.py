"""monitoring_pipeline: D&B Direct+ monitoring, integration health and alerting on Dagster."""
