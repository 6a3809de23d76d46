"""The probe sensor: probes what is due, concurrently, and reports observations and check evaluations."""

import json

import dagster as dg

from monitoring_pipeline.defs.integrations.checks import check_metadata
from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.specs import HEALTH_CHECK, SEVERITY, integration_key
from monitoring_pipeline.defs.shared.outages import survive_database_outage
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.integrations.auth import TokenCache
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.reporting import state_verdict
from monitoring_pipeline.integrations.runner import ProbeRunner

# OAuth2 tokens outlive a tick: one cache for the code location's process.
_TOKENS = TokenCache()


def build_probe_sensor(config: IntegrationsFile) -> dg.SensorDefinition:
    known = {integration.name for integration in config.integrations}

    @dg.sensor(
        name="integration_probe_sensor",
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Probes every integration that is due, concurrently, within the tick's budget; records results, "
        "states, breakers and failover; reports observations per reporting window and check evaluations on change.",
    )
    def integration_probe_sensor(
        context: dg.SensorEvaluationContext, database: ProjectDatabaseResource, integrations: IntegrationsResource
    ) -> dg.SensorResult:
        def tick(stored: str | None) -> dg.SensorResult:
            current = integrations.load()
            runner = ProbeRunner(concurrency=current.probing.concurrency, max_body_bytes=current.probing.max_body_bytes,
                                 tokens=_TOKENS)
            monitor = HealthMonitor(database.get_engine(), current, runner=runner,
                                    routing_file=integrations.routing_file())
            outcome = monitor.run_pass()
            figures = monitor.reports(outcome, current.probing.report_every)
            events: list[dg.AssetObservation | dg.AssetCheckEvaluation] = [
                dg.AssetObservation(asset_key=integration_key(name), metadata=dict(values.as_metadata()))
                for name, values in sorted(figures.items()) if name in known
            ]
            for transition in outcome.transitions:
                if transition.integration not in known:
                    continue
                verdict = state_verdict(transition.to_state, transition.explained_by)
                events.append(dg.AssetCheckEvaluation(
                    asset_key=integration_key(transition.integration), check_name=HEALTH_CHECK, passed=verdict.passed,
                    severity=SEVERITY[verdict.severity],
                    metadata={**check_metadata(transition.to_state, transition.cause, transition.explained_by,
                                                verdict.note), "from_state": transition.from_state},
                ))
                context.log.info("%s: %s -> %s (%s)", transition.integration, transition.from_state,
                                 transition.to_state, transition.cause)
            for event in outcome.failovers:
                context.log.warning("failover %s: %s -> %s (%s)", event.group, event.from_provider, event.to_provider,
                                    event.reason)
            if outcome.not_started:
                context.log.warning("%d due integrations did not fit in the tick budget; they go first next tick",
                                    len(outcome.not_started))
            summary = (f"probed {len(outcome.results)} of {outcome.due} due; {len(outcome.transitions)} state changes, "
                       f"{len(outcome.failovers)} failovers, {len(figures)} reported")
            cursor = json.dumps({"last_pass": outcome.at.isoformat(), "probed": len(outcome.results)})
            return dg.SensorResult(asset_events=events, cursor=cursor, skip_reason=summary)

        return survive_database_outage(context, tick)

    return integration_probe_sensor
