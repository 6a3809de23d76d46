"""Names shared by integration health's assets, checks, sensors and jobs."""

import dagster as dg

GROUP = "integration_health"
OWNERS = ["team:platform"]
HEALTH_CHECK = "health_state"
SLA_CHECK = "sla_met"
SEVERITY = {"WARN": dg.AssetCheckSeverity.WARN, "ERROR": dg.AssetCheckSeverity.ERROR}


def integration_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["integrations", name])
