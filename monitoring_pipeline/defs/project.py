"""The project's Definitions, domain by domain: one function for the single code location (definitions.py, every
domain) and for a deployment split into several (production/locations.py, some domains each).

Each domain loads and validates its own configuration here, so a bad file fails the load of the code location that
needs it, naming the file and the field, and no other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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

_Builder = Callable[[ProjectSettings, dg.DailyPartitionsDefinition], dg.Definitions]


def _dnb(settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition) -> dg.Definitions:
    """Landing, the day assets, registrations and destinations."""
    load_registrations(settings.registrations_dir)  # validate now: fail the load, not the first run
    return dnb_definitions(settings, partitions, load_destinations(settings.destinations_file, settings))


def _integrations(settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition) -> dg.Definitions:
    """The probe sensor, the integrations' assets and their daily figures."""
    return integration_definitions(settings, partitions, load_integrations(settings.integrations_file))


def _alerting(settings: ProjectSettings, partitions: dg.DailyPartitionsDefinition) -> dg.Definitions:
    """The alert engine and the delivery of what it decides: one evaluator and one deliverer per deployment."""
    return dg.Definitions.merge(delivery_definitions(settings), alerting_definitions(settings, partitions))


# Every domain of the project, by the name code locations list them under (production/locations.py).
DOMAINS: dict[str, _Builder] = {
    "dnb": _dnb,
    "integrations": _integrations,
    "alerting": _alerting,
    "reports": report_definitions,
}


def project_definitions(settings: ProjectSettings, domains: Sequence[str] = tuple(DOMAINS)) -> dg.Definitions:
    """The Definitions of ``domains`` (all by default) with the shared ``database`` resource."""
    unknown = [name for name in domains if name not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domains {unknown}; expected some of {list(DOMAINS)}")
    partitions = daily_partitions(settings)
    return dg.Definitions.merge(
        dg.Definitions(resources={"database": project_database(settings)}),
        *(DOMAINS[name](settings, partitions) for name in domains),
    )
