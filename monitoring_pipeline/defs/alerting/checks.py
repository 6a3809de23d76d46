"""alerting_healthy: the engine evaluates on time, keeps up with its sources, and every receiver works."""

from datetime import UTC, datetime

import dagster as dg

from monitoring_pipeline.alerting.queries import engine_health
from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.defs.alerting.specs import ALERT_ENGINE, HEALTH_CHECK
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource


@dg.asset_check(
    asset=ALERT_ENGINE,
    name=HEALTH_CHECK,
    description="Fails while the alert evaluation falls behind (no evaluation within evaluation.behind_after, or a "
    "backlog it does not catch up with), a source keeps failing, or a receiver is broken.",
)
def alerting_healthy(database: ProjectDatabaseResource, alerting: AlertingResource) -> dg.AssetCheckResult:
    config, _ = alerting.load()
    now = datetime.now(UTC)
    with database.get_engine().connect() as connection:
        health = engine_health(connection)
    problems = health.problems(now, config.evaluation.behind_after)
    age = (now - health.last_evaluation_at).total_seconds() if health.last_evaluation_at else float("nan")
    return dg.AssetCheckResult(
        passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"last_evaluation_age_seconds": age, "broken_receivers": len(health.broken_receivers),
                  "problems": len(problems),
                  "details": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "all well")},
    )
