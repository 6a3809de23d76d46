"""Merges each domain's Definitions; nothing else.

Bad registration, destination or integration files, or bad settings, stop the code location from loading,
with a message naming the file or variable: the project refuses to start rather than half-run.
"""

import dagster as dg

from monitoring_pipeline.defs.alerting.definitions import alerting_definitions
from monitoring_pipeline.defs.alerting.delivery import delivery_definitions
from monitoring_pipeline.defs.dnb.definitions import dnb_definitions
from monitoring_pipeline.defs.integrations.definitions import integration_definitions
from monitoring_pipeline.defs.reports.definitions import report_definitions
from monitoring_pipeline.defs.shared.partitions import daily_partitions
from monitoring_pipeline.defs.shared.resources import project_database
from monitoring_pipeline.destinations.config import load_destinations
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.notifications.registrations import load_registrations
from monitoring_pipeline.settings import ProjectSettings

settings = ProjectSettings.from_env()
load_registrations(settings.registrations_dir)  # validate now: fail the load, not the first run
partitions = daily_partitions(settings)

defs = dg.Definitions.merge(
    dg.Definitions(resources={"database": project_database(settings)}),
    dnb_definitions(settings, partitions, load_destinations(settings.destinations_file, settings)),
    integration_definitions(settings, partitions, load_integrations(settings.integrations_file)),
    report_definitions(settings, partitions),
    delivery_definitions(settings),
    alerting_definitions(settings, partitions),
)
