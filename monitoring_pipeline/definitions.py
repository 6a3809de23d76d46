"""Assembles the Dagster Definitions from ``defs``; nothing else.

Bad registration files or settings stop the code location from loading, with a message naming the file
or variable: the project refuses to start rather than half-run.
"""

import dagster as dg

from monitoring_pipeline.defs.destination_resources import destination_resource
from monitoring_pipeline.defs.destinations import build_destination_assets, resource_key
from monitoring_pipeline.defs.dnb_registrations import dnb_registrations
from monitoring_pipeline.defs.integration_health import integration_health_definitions
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
from monitoring_pipeline.destinations.config import default_destinations_file, load_destinations
from monitoring_pipeline.notifications.registrations import default_registrations_dir, load_registrations
from monitoring_pipeline.probes.config import default_integrations_path, load_integrations
from monitoring_pipeline.settings import NotificationSettings

settings = NotificationSettings.from_env()
registrations_dir = default_registrations_dir()
load_registrations(registrations_dir)  # validate now: fail the load, not the first run
integrations_path = default_integrations_path()
integrations_config = load_integrations(integrations_path)  # likewise: a bad file stops the load

(dnb_notifications, notification_files, notifications_table, company_changes, notification_metrics,
 monitored_companies, landing_freshness) = build_notification_assets(settings)

# Remote destinations (config/destinations.yaml): one asset per enabled destination; a bad file fails the load.
destinations = load_destinations(default_destinations_file())
destination_resources = {name: destination_resource(name, config) for name, config in destinations.enabled.items()}
destination_assets = build_destination_assets(settings, destination_resources, notification_files)

landing_freshness_job = dg.define_asset_job(
    "landing_freshness_check", selection=dg.AssetSelection.checks(landing_freshness)
)

defs = dg.Definitions(
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
    ],
    resources={
        "dnb": dnb_resource_from_env(),
        "database": project_database_from_env(settings),
        "storage": NotificationStorageResource(
            base_path=str(settings.data_dir), formats=list(destinations.local.formats), gzip=destinations.local.gzip
        ),
        "registrations": RegistrationsResource(directory=str(registrations_dir)),
        **{resource_key(name): resource for name, resource in destination_resources.items()},
    },
)

# One Definitions object at module scope (Dagster refuses two): integration health merged in.
defs = dg.Definitions.merge(defs, integration_health_definitions(settings, integrations_config, integrations_path))
