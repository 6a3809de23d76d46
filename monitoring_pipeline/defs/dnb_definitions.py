"""Everything D&B notifications add to the code location: landing, day assets, destinations, registrations."""

from pathlib import Path

import dagster as dg

from monitoring_pipeline.defs.destination_resources import destination_resource
from monitoring_pipeline.defs.destinations import build_catch_up_sensors, build_destination_assets, resource_key
from monitoring_pipeline.defs.dnb_registrations import dnb_registrations
from monitoring_pipeline.defs.landing_sensor import build_landing_sensor
from monitoring_pipeline.defs.notifications import build_notification_assets
from monitoring_pipeline.defs.partitions import daily_partitions
from monitoring_pipeline.defs.registration_sync import dnb_registration_sync, dnb_registration_sync_sensor
from monitoring_pipeline.defs.resources import (
    NotificationStorageResource,
    RegistrationsResource,
    dnb_resource_from_env,
    project_database_from_env,
)
from monitoring_pipeline.destinations.config import DestinationsConfig
from monitoring_pipeline.settings import NotificationSettings


def dnb_definitions(
    settings: NotificationSettings, registrations_dir: Path, destinations: DestinationsConfig
) -> dg.Definitions:
    """The D&B side of the project; ``database`` is the project database shared with integration health."""
    (dnb_notifications, notification_files, notifications_table, company_changes, notification_metrics,
     monitored_companies, landing_freshness) = build_notification_assets(settings)

    # Remote destinations (config/destinations.yaml): one asset per enabled destination.
    destination_resources = {
        name: destination_resource(name, config) for name, config in destinations.enabled.items()
    }
    destination_assets = build_destination_assets(settings, destination_resources, notification_files)

    landing_freshness_job = dg.define_asset_job(
        "landing_freshness_check", selection=dg.AssetSelection.checks(landing_freshness)
    )
    return dg.Definitions(
        assets=[dnb_registrations, dnb_registration_sync, dnb_notifications, notification_files, notifications_table,
                company_changes, notification_metrics, monitored_companies, *destination_assets],
        asset_checks=[landing_freshness],
        jobs=[landing_freshness_job],
        schedules=[
            dg.ScheduleDefinition(
                job=landing_freshness_job,
                cron_schedule="*/10 * * * *",
                default_status=dg.DefaultScheduleStatus.RUNNING,
                description="Checks every 10 minutes that each registration was pulled recently.",
            )
        ],
        sensors=[
            build_landing_sensor(
                settings,
                daily_partitions(settings),
                [dnb_notifications, notification_files, notifications_table, company_changes, notification_metrics,
                 *destination_assets],
                monitored_companies,
            ),
            dnb_registration_sync_sensor,
            *build_catch_up_sensors(destinations.enabled),
        ],
        resources={
            "dnb": dnb_resource_from_env(),
            "database": project_database_from_env(settings),
            "storage": NotificationStorageResource(
                base_path=str(settings.data_dir),
                formats=list(destinations.local.formats),
                gzip=destinations.local.gzip,
            ),
            "registrations": RegistrationsResource(directory=str(registrations_dir)),
            **{resource_key(name): resource for name, resource in destination_resources.items()},
        },
    )
