"""Everything the alert engine adds to the code location; its ``database`` resource comes from the shared
definitions. A bad alerting file stops the code location from loading, naming the file and the field."""

import dagster as dg

from monitoring_pipeline.alerting.config import load_alerting
from monitoring_pipeline.defs.alerting.assets import alert_engine_spec, build_history_asset
from monitoring_pipeline.defs.alerting.checks import alerting_healthy
from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.defs.alerting.schedules import build_health_schedule, build_history_schedule
from monitoring_pipeline.defs.alerting.sensors import alert_run_failure_sensor, build_evaluation_sensor
from monitoring_pipeline.settings import ProjectSettings


def alerting_definitions(settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition) -> dg.Definitions:
    load_alerting(settings.alerting_file)  # validate now: fail the load, not the first tick
    history = build_history_asset(partitions)
    history_job = dg.define_asset_job("alert_history_daily_job", selection=[history])
    health_job = dg.define_asset_job("alerting_healthy_job", selection=dg.AssetSelection.checks(alerting_healthy))
    return dg.Definitions(
        assets=[alert_engine_spec, history],
        asset_checks=[alerting_healthy],
        jobs=[history_job, health_job],
        schedules=[build_history_schedule(history_job), build_health_schedule(health_job)],
        sensors=[build_evaluation_sensor(settings), alert_run_failure_sensor],
        resources={"alerting": AlertingResource(path=str(settings.alerting_file),
                                                integrations_path=str(settings.integrations_file),
                                                ops_config_path=str(settings.ops.config_file)
                                                if settings.ops.config_file else None,
                                                dnb_rate_limit_per_second=settings.dnb.rate_limit_per_second)},
    )
