"""``health_state``: one check per integration asset, reported by the probe sensor on every state change."""

import dagster as dg

from monitoring_pipeline.defs.integrations.specs import HEALTH_CHECK, SEVERITY, integration_key
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.integrations.reporting import state_verdict
from monitoring_pipeline.integrations.store import load_statuses


def build_health_state_checks(config: IntegrationsFile) -> list[dg.AssetChecksDefinition]:
    """``health_state`` on every integration asset: the sensor reports it on each change; running it reads the
    current state from the database."""
    if not config.integrations:
        return []
    names = [integration.name for integration in config.integrations]

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                HEALTH_CHECK,
                asset=integration_key(name),
                description="Passes when UP (or in maintenance); WARN when DEGRADED, PENDING or DOWN explained by a "
                "dependency; ERROR when DOWN.",
            )
            for name in names
        ],
        name="integration_health_state_checks",
    )
    def integration_health_state_checks(database: ProjectDatabaseResource):  # type: ignore[no-untyped-def]
        statuses = load_statuses(database.get_engine())
        for name in names:
            health = statuses[name].health if name in statuses else None
            state = health.state if health else "UNKNOWN"
            yield health_check_result(name, state, health.cause if health else "never probed",
                                      health.explained_by if health else None)

    return [integration_health_state_checks]


def health_check_result(name: str, state: str, cause: str, explained_by: str | None) -> dg.AssetCheckResult:
    verdict = state_verdict(state, explained_by)
    return dg.AssetCheckResult(
        asset_key=integration_key(name), check_name=HEALTH_CHECK, passed=verdict.passed,
        severity=SEVERITY[verdict.severity], metadata=check_metadata(state, cause, explained_by, verdict.note),
    )


def check_metadata(state: str, cause: str, explained_by: str | None, note: str) -> dict[str, object]:
    return {"state": state, "cause": cause, "explained_by": explained_by or "", "note": note}
