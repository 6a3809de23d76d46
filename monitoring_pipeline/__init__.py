"""monitoring_pipeline: D&B Direct+ monitoring, integration health and alerting on Dagster."""

from monitoring_pipeline.logs import redact_project_records

# Every record of the project's loggers is redacted when it is created, in every process that imports the package
# (commands, code servers, run workers), before any handler or Dagster's log capture sees it.
redact_project_records()
