"""The evaluation sensor (rules over everything the project records, every ALERT_EVALUATION_INTERVAL_SECONDS) and
the run-failure sensor that hands failed runs to it."""


import json
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy import Engine

from monitoring_pipeline.alerting.delivery import deliver_due
from monitoring_pipeline.alerting.evaluation import EvaluationReport
from monitoring_pipeline.alerting.model import SEVERITIES
from monitoring_pipeline.alerting.queries import engine_health
from monitoring_pipeline.alerting.receivers import ReceiverConfig
from monitoring_pipeline.alerting.sources.dagster import open_failed_jobs, record_run_failure
from monitoring_pipeline.defs.alerting.instance_records import collect_inputs, run_failure_error
from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.defs.alerting.specs import ALERT_ENGINE, HEALTH_CHECK
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.settings import ProjectSettings

# Observations of the engine go to Dagster when its figures change, and at least this often (plots stay live).
REPORT_EVERY_SECONDS = 300
_TRANSITIONS_LOGGED = 20
# What an evaluation queued is sent within its tick, in at most this long; the tick stays under Dagster's 60 s.
IMMEDIATE_DELIVERY_BUDGET_SECONDS = 10.0
TICK_LIMIT_SECONDS = 55.0


def build_evaluation_sensor(settings: ProjectSettings) -> dg.SensorDefinition:
    @dg.sensor(
        name="alert_evaluation_sensor",
        minimum_interval_seconds=settings.alert_evaluation_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the alert rules over what changed since the last tick (integration health, asset "
        "checks, runs and ticks, D&B landings, our own figures) within a time budget; records every transition "
        "and queues the notifications they cause, in one transaction.",
    )
    def alert_evaluation_sensor(context: dg.SensorEvaluationContext, database: ProjectDatabaseResource,
                                alerting: AlertingResource) -> dg.SensorResult:
        engine = database.get_engine()
        alert_engine = alerting.engine(engine)
        with engine.connect() as connection:
            failed_jobs = open_failed_jobs(connection)
        # Every check of the code location, those declared inside multi-assets (check_specs) too.
        check_keys = list(context.repository_def.asset_graph.asset_check_keys) if context.repository_def else []
        report = alert_engine.evaluate(collect_inputs(context.instance, check_keys, failed_jobs))
        if report.notifications:
            _deliver_at_once(context, engine, alert_engine.config.receivers, report.duration_seconds)
        for line in report.transitions[:_TRANSITIONS_LOGGED]:
            context.log.info(line)
        if len(report.transitions) > _TRANSITIONS_LOGGED:
            context.log.info("... and %d more transitions", len(report.transitions) - _TRANSITIONS_LOGGED)
        for error in report.errors:
            context.log.warning("alert source failed: %s", error)
        cursor = _Cursor.parse(context.cursor)
        events: list[dg.AssetObservation | dg.AssetCheckEvaluation] = []
        figures = engine_figures(report)
        now = report.at.timestamp()
        if figures != cursor.figures or now - cursor.reported_at >= REPORT_EVERY_SECONDS:
            events.append(dg.AssetObservation(asset_key=ALERT_ENGINE, metadata=dict(figures)))
            cursor.figures, cursor.reported_at = figures, now
        with engine.connect() as connection:
            problems = engine_health(connection).problems(report.at, alert_engine.config.evaluation.behind_after)
        if (not problems) != cursor.healthy:
            events.append(health_evaluation(problems))
            cursor.healthy = not problems
        return dg.SensorResult(asset_events=events, cursor=cursor.dump(), skip_reason=report.summary())

    return alert_evaluation_sensor


def _deliver_at_once(context: dg.SensorEvaluationContext, engine: Engine, receivers: Mapping[str, ReceiverConfig],
                     evaluated_in: float) -> None:
    """Send what the evaluation just queued now, not at the delivery sensor's next tick (up to 10 s later): with
    group_wait 0 an alert reaches its receivers within a second of the evaluation that fired it. What does not fit
    in the budget, and every retry, is left to the delivery sensor."""
    budget = min(IMMEDIATE_DELIVERY_BUDGET_SECONDS, TICK_LIMIT_SECONDS - evaluated_in)
    if budget < 1:
        return
    try:
        delivery = deliver_due(engine, receivers, budget_seconds=budget)
    except Exception as error:  # noqa: BLE001 - the notifications are committed: the delivery sensor sends them
        context.log.warning("sending the queued notifications at once failed (%s); the delivery sensor will",
                            type(error).__name__)
        return
    if delivery.attempts:
        context.log.info("sent at once: %s", delivery.summary())


def engine_figures(report: EvaluationReport) -> dict[str, float]:
    """Stable numeric keys the UI plots: how many alerts are in each state now."""
    figures: dict[str, float] = {"firing": report.firing, "pending": report.pending,
                                 "acknowledged": report.acknowledged, "muted": report.muted}
    for severity in SEVERITIES:
        figures[f"firing_{severity}"] = report.firing_by_severity.get(severity, 0)
    return figures


def health_evaluation(problems: list[str]) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=ALERT_ENGINE, check_name=HEALTH_CHECK, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"problems": len(problems),
                  "details": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "all well")},
    )


class _Cursor:
    def __init__(self, figures: dict[str, float] | None = None, reported_at: float = 0.0,
                 healthy: bool | None = None) -> None:
        self.figures = figures or {}
        self.reported_at = reported_at
        self.healthy = healthy

    @classmethod
    def parse(cls, text: str | None) -> "_Cursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("figures"), float(data.get("reported_at", 0.0)), data.get("healthy"))

    def dump(self) -> str:
        return json.dumps({"figures": self.figures, "reported_at": self.reported_at, "healthy": self.healthy},
                          sort_keys=True)


@dg.run_failure_sensor(
    name="alert_run_failure_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Split deployments (production/locations.py) run jobs in other code locations than the alert engine's.
    monitor_all_code_locations=True,
    description="Hands every failed run, of every code location, to the alert engine (dagster_run_failed).",
)
def alert_run_failure_sensor(context: dg.RunFailureSensorContext, database: ProjectDatabaseResource) -> None:
    run = context.dagster_run
    failed_at = datetime.now(UTC)
    with database.get_engine().begin() as connection:
        record_run_failure(connection, run.job_name, run.run_id, failed_at, run_failure_error(context), failed_at)
    context.log.info("run %s of %s failed: handed to the alert engine", run.run_id, run.job_name)
