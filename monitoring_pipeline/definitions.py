"""Assembles the Dagster Definitions from ``defs``; nothing else."""

import dagster as dg

from monitoring_pipeline.defs.dnb_registrations import dnb_registrations
from monitoring_pipeline.defs.resources import dnb_resource_from_env

defs = dg.Definitions(
    assets=[dnb_registrations],
    resources={"dnb": dnb_resource_from_env()},
)
