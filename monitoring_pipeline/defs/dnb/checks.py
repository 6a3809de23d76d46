"""Asset checks of the D&B side: how findings become check results, and the landing freshness check."""

from datetime import timedelta

import dagster as dg

from monitoring_pipeline.defs.dnb.resources import RegistrationsResource
from monitoring_pipeline.defs.dnb.specs import LANDING_FRESHNESS
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.notifications.quality import Finding, stale_registrations
from monitoring_pipeline.settings import ProjectSettings

EXAMPLES_SHOWN = 10


def check_spec(name: str, asset: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name=name, asset=asset, description=description, blocking=blocking)


def finding_result(name: str, finding: Finding, severity: dg.AssetCheckSeverity,
                   **extra: object) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {"count": finding.count, **extra}
    if finding.examples:
        metadata["examples"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in finding.examples))
    return dg.AssetCheckResult(check_name=name, passed=finding.passed, severity=severity, metadata=metadata)


def merge_findings(findings: list[Finding]) -> Finding:
    merged = Finding(passed=all(f.passed for f in findings), count=sum(f.count for f in findings))
    merged.examples = [e for f in findings for e in f.examples][:EXAMPLES_SHOWN]
    return merged


def finding_from(problems: list[str]) -> Finding:
    return Finding(passed=not problems, count=len(problems), examples=problems[:EXAMPLES_SHOWN])


def build_landing_freshness_check(settings: ProjectSettings,
                                  monitored_companies: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=monitored_companies,
        name=LANDING_FRESHNESS,
        description=f"Every pulled registration had a successful pull in the last "
        f"{settings.landing_max_age_minutes:g} minutes.",
    )
    def landing_freshness(database: ProjectDatabaseResource, registrations: RegistrationsResource
                          ) -> dg.AssetCheckResult:
        finding = stale_registrations(
            database.get_engine(),
            registrations.pulled_references(),
            timedelta(minutes=settings.landing_max_age_minutes),
        )
        return finding_result(LANDING_FRESHNESS, finding, dg.AssetCheckSeverity.ERROR,
                              max_age_minutes=settings.landing_max_age_minutes)

    return landing_freshness
