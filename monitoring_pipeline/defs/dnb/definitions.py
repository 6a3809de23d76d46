"""Everything the D&B side adds to the code location: landing, day assets, registrations, destinations."""

import dagster as dg

from monitoring_pipeline.defs.dnb.assets import build_notification_assets
from monitoring_pipeline.defs.dnb.checks import build_landing_freshness_check
from monitoring_pipeline.defs.dnb.destination_resources import destination_resource
from monitoring_pipeline.defs.dnb.destinations import build_destination_assets
from monitoring_pipeline.defs.dnb.registrations import dnb_registration_sync, dnb_registrations
from monitoring_pipeline.defs.dnb.resources import NotificationStorageResource, RegistrationsResource, dnb_resource
from monitoring_pipeline.defs.dnb.schedules import build_landing_freshness_schedule
from monitoring_pipeline.defs.dnb.sensors import (
    build_catch_up_sensors,
    build_landing_sensor,
    dnb_registration_sync_sensor,
)
from monitoring_pipeline.defs.dnb.specs import destination_resource_key
from monitoring_pipeline.destinations.config import DestinationsConfig
from monitoring_pipeline.settings import ProjectSettings


def dnb_definitions(
    settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition, destinations: DestinationsConfig
) -> dg.Definitions:
    """The D&B side of the project; its ``database`` resource comes from the shared definitions."""
    notifications = build_notification_assets(partitions)
    landing_freshness = build_landing_freshness_check(settings, notifications.monitored_companies)
    freshness = build_landing_freshness_schedule(landing_freshness)

    # Remote destinations (config/destinations.yaml): one asset per enabled destination.
    destination_resources = {
        name: destination_resource(name, config) for name, config in destinations.enabled.items()
    }
    destination_assets = build_destination_assets(partitions, destination_resources,
                                                  [notifications.notification_files, notifications.company_changes])
    return dg.Definitions(
        assets=[dnb_registrations, dnb_registration_sync, *notifications.all, *destination_assets],
        asset_checks=[landing_freshness],
        jobs=[freshness.job],
        schedules=[freshness.schedule],
        sensors=[
            build_landing_sensor(settings, partitions, [*notifications.day_assets, *destination_assets],
                                 notifications.monitored_companies),
            dnb_registration_sync_sensor,
            *build_catch_up_sensors(destinations.enabled),
        ],
        resources={
            "dnb": dnb_resource(settings),
            "storage": NotificationStorageResource(
                base_path=str(settings.data_dir),
                formats=list(destinations.local.formats),
                gzip=destinations.local.gzip,
            ),
            "registrations": RegistrationsResource(directory=str(settings.registrations_dir)),
            **{destination_resource_key(name): resource for name, resource in destination_resources.items()},
        },
    )
