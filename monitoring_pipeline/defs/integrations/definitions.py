"""Everything integration health adds to the code location; its ``database`` resource comes from the shared
definitions."""

import dagster as dg

from monitoring_pipeline.defs.integrations.assets import build_daily_assets, integration_specs
from monitoring_pipeline.defs.integrations.checks import build_health_state_checks
from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.retention import (
    integration_probe_retention_job,
    integration_probe_retention_schedule,
)
from monitoring_pipeline.defs.integrations.schedules import build_daily_schedule
from monitoring_pipeline.defs.integrations.sensors import build_probe_sensor
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.settings import ProjectSettings


def integration_definitions(settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition,
                            config: IntegrationsFile) -> dg.Definitions:
    daily = build_daily_assets(partitions, config)
    job = dg.define_asset_job("integration_health_daily_job",
                              selection=[daily.integration_health_daily, daily.integration_usage_daily])
    return dg.Definitions(
        assets=[*integration_specs(config), daily.integration_health_daily, daily.integration_usage_daily],
        asset_checks=build_health_state_checks(config),
        jobs=[job, integration_probe_retention_job],
        schedules=[build_daily_schedule(job), integration_probe_retention_schedule],
        sensors=[build_probe_sensor(config)],
        resources={"integrations": IntegrationsResource(path=str(settings.integrations_file),
                                                        state_dir=str(settings.home))},
    )
