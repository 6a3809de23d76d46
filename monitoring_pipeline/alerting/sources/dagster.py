"""Dagster as alert sources: asset check evaluations, failed runs, failed sensor and schedule ticks.

The Dagster glue collects plain records from the instance (``records.py``); failed runs come through the
``alert_inbox`` table, written by the run-failure sensor. The engine remembers what it has seen (the last
evaluation of each check, the last tick of each instigator, the inbox watermark) in its cursors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from monitoring_pipeline.alerting.config import AssetCheckRule, RuleConfig
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.alerting.sources.records import RunOutcome
from monitoring_pipeline.alerting.store import OPEN_STATES
from monitoring_pipeline.storage.schema import alert_inbox, alerts

RUN_FAILURE = "run_failure"
EXECUTION_FAILED = "EXECUTION_FAILED"


class AssetCheckSource:
    name = "asset_check"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        seen: dict[str, int] = context.cursors.setdefault("asset_checks_seen", {})
        result = Collected()
        for check in sorted(context.inputs.checks, key=lambda c: c.record_id):
            key = f"{check.asset}:{check.check_name}"
            if seen.get(key, -1) >= check.record_id:
                continue
            seen[key] = check.record_id
            labels = {"asset": check.asset, "check_name": check.check_name}
            failed = check.status == EXECUTION_FAILED or not check.passed
            severity = "ERROR" if check.status == EXECUTION_FAILED else check.severity
            description = check.description or (
                "the check itself failed to run" if check.status == EXECUTION_FAILED else "")
            details = {"description": description, "check_severity": severity, "run_id": check.run_id or "",
                       "status": check.status}
            for rule in rules:
                assert isinstance(rule, AssetCheckRule)
                if not selected(rule, labels):
                    continue
                active = failed and severity in rule.check_severities
                result.observations.append(Observation(rule.name, labels, active, check.at, details=details,
                                                       severity=rule.severity_map.get(severity, rule.severity)))
        return result


class DagsterRunSource:
    """A job's alert fires when a run of it fails and resolves when a later run succeeds."""

    name = "dagster_run"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        watermark = context.cursors.get("alert_inbox")
        if watermark is None:
            watermark = 0
        rows = context.connection.execute(
            select(alert_inbox).where(alert_inbox.c.id > watermark, alert_inbox.c.kind == RUN_FAILURE)
            .order_by(alert_inbox.c.id).limit(1000)).all()
        outcomes = [RunOutcome(**_payload(row.payload), succeeded=False) for row in rows]
        if rows:
            context.cursors["alert_inbox"] = rows[-1].id
        else:
            context.cursors["alert_inbox"] = max(watermark, context.connection.execute(
                select(func.coalesce(func.max(alert_inbox.c.id), 0))).scalar_one())
        outcomes += [outcome for outcome in context.inputs.runs if outcome.succeeded]
        result = Collected(behind=len(rows) == 1000)
        for outcome in sorted(outcomes, key=lambda o: o.at):
            labels = {"job": outcome.job}
            details = {"run_id": outcome.run_id, "error": outcome.error,
                       "failed_at": "" if outcome.succeeded else outcome.at.isoformat(timespec="seconds")}
            for rule in rules:
                if selected(rule, labels):
                    result.observations.append(Observation(rule.name, labels, not outcome.succeeded, outcome.at,
                                                           details=details))
        return result


class DagsterTickSource:
    """Each new tick of a sensor or schedule is one observation: failed or not."""

    name = "dagster_tick"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        result = Collected()
        if context.inputs.ticks is None:
            return result
        seen: dict[str, int] = context.cursors.setdefault("ticks_seen", {})
        for tick in context.inputs.ticks:
            key = f"{tick.instigator_type}:{tick.instigator}"
            if tick.status == "STARTED" or seen.get(key) == tick.tick_id:
                continue
            seen[key] = tick.tick_id
            labels = {"instigator": tick.instigator, "instigator_type": tick.instigator_type}
            failed = tick.status == "FAILURE"
            details = {"error": tick.error, "tick_status": tick.status,
                       "failed_at": tick.at.isoformat(timespec="seconds") if failed else ""}
            for rule in rules:
                if selected(rule, labels):
                    result.observations.append(Observation(rule.name, labels, failed, tick.at, details=details))
        return result


def _payload(text: str) -> dict[str, object]:
    data = json.loads(text)
    return {"job": data["job"], "run_id": data["run_id"], "at": datetime.fromisoformat(data["at"]),
            "error": data.get("error", "")}


def record_run_failure(connection: Connection, job: str, run_id: str, at: datetime, error: str,
                       received_at: datetime) -> None:
    """What the run-failure sensor hands to the engine (read at its next evaluation)."""
    connection.execute(insert(alert_inbox).values(kind=RUN_FAILURE, received_at=received_at, payload=json.dumps(
        {"job": job, "run_id": run_id, "at": at.isoformat(), "error": error})))


def open_failed_jobs(connection: Connection) -> dict[str, datetime]:
    """Each job with an open failed-run alert, and the time of its latest failure."""
    table = alerts.c
    found: dict[str, datetime] = {}
    for labels, observed in connection.execute(select(table.labels, table.last_observed_at).where(
            table.source == "dagster_run", table.state.in_(OPEN_STATES))):
        job = json.loads(labels).get("job")
        if job:
            found[job] = max(found.get(job, observed), observed)
    return found
