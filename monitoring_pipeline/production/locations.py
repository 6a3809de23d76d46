"""The project split into two code locations by domain, for a deployment whose code servers run apart
(``dagster api grpc -m monitoring_pipeline.production.locations -a dnb`` and ``-a integrations``).

Both share the project database (``DATABASE_URL``) and, through it, one D&B token and rate budget. Each loads only
the configuration it needs, so a bad integrations file stops the integrations location, not D&B landing.
"""

import dagster as dg

from monitoring_pipeline.defs.dnb.definitions import dnb_definitions
from monitoring_pipeline.defs.integrations.definitions import integration_definitions
from monitoring_pipeline.defs.shared.partitions import daily_partitions
from monitoring_pipeline.defs.shared.resources import project_database
from monitoring_pipeline.settings import ProjectSettings


def _shared(settings: ProjectSettings) -> dg.Definitions:
    return dg.Definitions(resources={"database": project_database(settings)})


def dnb_location() -> dg.Definitions:
    """D&B: landing, the day assets, registrations, destinations."""
    from monitoring_pipeline.destinations.config import load_destinations
    from monitoring_pipeline.notifications.registrations import load_registrations

    settings = ProjectSettings.from_env()
    load_registrations(settings.registrations_dir)  # fail the load, not the first run
    destinations = load_destinations(settings.destinations_file, settings)
    return dg.Definitions.merge(_shared(settings), dnb_definitions(settings, daily_partitions(settings), destinations))


def integrations_location() -> dg.Definitions:
    """Integration health: the probe sensor, the integrations' assets and their daily figures."""
    from monitoring_pipeline.integrations.config import load_integrations

    settings = ProjectSettings.from_env()
    config = load_integrations(settings.integrations_file)
    return dg.Definitions.merge(_shared(settings),
                                integration_definitions(settings, daily_partitions(settings), config))


# `dagster api grpc -a dnb` / `-a integrations` load one of these attributes: a function returning Definitions, so a
# code server builds only its own side.
dnb = dnb_location
integrations = integrations_location
