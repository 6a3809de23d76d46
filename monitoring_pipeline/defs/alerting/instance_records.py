"""Plain records from the Dagster instance for the alert engine: the latest evaluation of every asset check, the
latest tick of every sensor and schedule, and the successful runs that may end a failed-run alert."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from monitoring_pipeline.alerting.sources.records import CheckEvaluation, DagsterInputs, RunOutcome, TickState

_ERROR_CHARACTERS = 500


def collect_inputs(instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey],
                   failed_jobs: Mapping[str, datetime]) -> DagsterInputs:
    """``failed_jobs``: each job with an open failed-run alert, and when it failed (a success after that ends it)."""
    return DagsterInputs(checks=latest_check_evaluations(instance, list(check_keys)),
                         ticks=latest_ticks(instance), runs=successes_after(instance, failed_jobs))


def latest_check_evaluations(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> list[CheckEvaluation]:
    if not keys:
        return []
    found = []
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    for key, record in latest.items():
        if record.status == AssetCheckExecutionRecordStatus.PLANNED:
            continue
        evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event \
            else None
        passed = bool(getattr(evaluation, "passed", record.status == AssetCheckExecutionRecordStatus.SUCCEEDED))
        severity = getattr(getattr(evaluation, "severity", None), "value", "ERROR")
        found.append(CheckEvaluation(
            asset=key.asset_key.to_user_string(), check_name=key.name, passed=passed, severity=severity,
            at=datetime.fromtimestamp(record.create_timestamp, UTC), record_id=int(record.id),
            description=(getattr(evaluation, "description", None) or "")[:_ERROR_CHARACTERS],
            run_id=record.run_id, status=record.status.value,
        ))
    return found


def latest_ticks(instance: dg.DagsterInstance) -> list[TickState]:
    ticks = []
    for state in instance.all_instigator_state():
        latest = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        if not latest:
            continue
        tick = latest[0]
        error = tick.error.message.strip().splitlines()[0][:_ERROR_CHARACTERS] if tick.error else ""
        ticks.append(TickState(instigator=state.name, instigator_type=state.instigator_type.value.lower(),
                               tick_id=int(tick.tick_id), status=tick.status.value,
                               at=datetime.fromtimestamp(tick.timestamp, UTC), error=error))
    return ticks


def successes_after(instance: dg.DagsterInstance, failed_jobs: Mapping[str, datetime]) -> list[RunOutcome]:
    found = []
    for job, failed_at in failed_jobs.items():
        records = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS],
                                                         updated_after=failed_at), limit=1)
        for record in records:
            at = record.end_time or record.update_timestamp.timestamp()
            found.append(RunOutcome(job=job, run_id=record.dagster_run.run_id, succeeded=True,
                                    at=datetime.fromtimestamp(at, UTC)))
    return found


def run_failure_error(context: dg.RunFailureSensorContext) -> str:
    """The first line of why the run failed (the failure event's message), never a whole stack."""
    message = context.failure_event.message or ""
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        while error is not None and getattr(error, "cause", None) is not None:
            error = error.cause  # Dagster wraps what the op raised: the innermost is what a person needs
        if error is not None:
            message = f"{event.step_key}: {error.message}"
            break
    return message.strip().splitlines()[0][:_ERROR_CHARACTERS] if message.strip() else "the run failed"
