"""The project split into code locations by domain, for a deployment whose code servers run apart
(``dagster api grpc -m monitoring_pipeline.production.locations -a dnb`` and ``-a integrations``; the workspace is
workspace.split.yaml).

``dnb`` holds D&B (landing, day assets, registrations, destinations), the alert engine with its delivery, and the
reports; ``integrations`` holds integration health, the part that grows with the number of probed endpoints. Every
domain is in exactly one location (``LOCATION_DOMAINS``; a test checks it). Both share the project database
(``DATABASE_URL``) and, through it, one D&B token and rate budget; the alert engine reads what both record there.
Each loads only the configuration its domains need, so a bad integrations file stops the integrations location,
not D&B landing.
"""

import dagster as dg

from monitoring_pipeline.defs.project import project_definitions
from monitoring_pipeline.settings import ProjectSettings

# Location attribute -> its domains (defs/project.py DOMAINS).
LOCATION_DOMAINS: dict[str, tuple[str, ...]] = {
    "dnb": ("dnb", "alerting", "reports"),
    "integrations": ("integrations",),
}


def dnb() -> dg.Definitions:
    """D&B, the alert engine and its delivery, the reports."""
    return project_definitions(ProjectSettings.from_env(), LOCATION_DOMAINS["dnb"])


def integrations() -> dg.Definitions:
    """Integration health: the probe sensor, the integrations' assets and their daily figures."""
    return project_definitions(ProjectSettings.from_env(), LOCATION_DOMAINS["integrations"])
