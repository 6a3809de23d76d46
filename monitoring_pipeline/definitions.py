"""Assembles the Dagster Definitions from ``defs``; nothing else.

Bad registration, destination or integration files, or bad settings, stop the code location from loading,
with a message naming the file or variable: the project refuses to start rather than half-run.
"""

import dagster as dg

from monitoring_pipeline.defs.dnb_definitions import dnb_definitions
from monitoring_pipeline.defs.integration_health import integration_health_definitions
from monitoring_pipeline.destinations.config import default_destinations_file, load_destinations
from monitoring_pipeline.notifications.registrations import default_registrations_dir, load_registrations
from monitoring_pipeline.probes.config import default_integrations_path, load_integrations
from monitoring_pipeline.settings import NotificationSettings

settings = NotificationSettings.from_env()
registrations_dir = default_registrations_dir()
load_registrations(registrations_dir)  # validate now: fail the load, not the first run
integrations_path = default_integrations_path()

defs = dg.Definitions.merge(
    dnb_definitions(settings, registrations_dir, load_destinations(default_destinations_file())),
    integration_health_definitions(settings, load_integrations(integrations_path), integrations_path),
)
