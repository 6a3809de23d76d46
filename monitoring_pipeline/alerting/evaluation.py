"""One evaluation of the alert engine: read what changed, move alerts, mute, group, decide notifications.

Everything an evaluation decides is written in one transaction: alert transitions, their history events, the
outbox rows of the notifications they cause and the sources' watermarks. A process killed at any point leaves the
previous evaluation's state, and the next evaluation decides the same things again with the same idempotency keys.
Writers are serialised by the engine's lock row, so two evaluations (or an evaluation and an acknowledgement) never
interleave.

Work is proportional to what changed: sources read past their watermarks, polled rules only when due, timers and
group flushes through indexed "due at" columns, and mutes are recomputed only when something fired or resolved, a
silence changed or one of them starts or ends.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from monitoring_pipeline.alerting import silences as silence_store
from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.config import AlertingConfig
from monitoring_pipeline.alerting.dispatch import Dispatcher, LinkBuilder
from monitoring_pipeline.alerting.lifecycle import Changes, Lifecycle
from monitoring_pipeline.alerting.model import alert_log_fields
from monitoring_pipeline.alerting.muting import InhibitRule, MuteCandidate, compute_mutes, dependency_closure
from monitoring_pipeline.alerting.sources.base import Collected, IntegrationInfo, Source, SourceContext
from monitoring_pipeline.alerting.sources.dagster import AssetCheckSource, DagsterRunSource, DagsterTickSource
from monitoring_pipeline.alerting.sources.dnb import DnbEventSource, LandingFreshnessSource
from monitoring_pipeline.alerting.sources.integrations import (
    FailoverSource,
    IntegrationStateSource,
    SlaBurnRateSource,
)
from monitoring_pipeline.alerting.sources.metrics import AnomalySource, ThresholdSource
from monitoring_pipeline.alerting.sources.providers import ProviderIncidentSource
from monitoring_pipeline.alerting.sources.receivers import ReceiverHealthSource
from monitoring_pipeline.alerting.sources.records import DagsterInputs
from monitoring_pipeline.alerting.store import ACKNOWLEDGED, FIRING, PENDING
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.logs import log_context
from monitoring_pipeline.storage.schema import alerts

logger = logging.getLogger(__name__)

SOURCES: tuple[Source, ...] = (
    IntegrationStateSource(), FailoverSource(), SlaBurnRateSource(), AssetCheckSource(), DagsterRunSource(),
    DagsterTickSource(), LandingFreshnessSource(), DnbEventSource(), ThresholdSource(), AnomalySource(),
    ReceiverHealthSource(), ProviderIncidentSource(),
)
CURSORS = "cursors"
MUTING = "muting"
LAST_EVALUATION = "last_evaluation"
# With maintenance windows configured, mutes are recomputed at least this often (windows open and close).
MAINTENANCE_RECHECK = timedelta(seconds=60)


@dataclass
class EvaluationReport:
    """What one evaluation did: the sensor's one-line summary, its logs and metadata."""

    at: datetime
    observations: int = 0
    opened: int = 0
    fired: int = 0
    resolved: int = 0
    rearmed: int = 0
    muted_changes: int = 0
    notifications: int = 0
    firing: int = 0
    pending: int = 0
    acknowledged: int = 0
    muted: int = 0
    firing_by_severity: dict[str, int] = field(default_factory=dict)
    behind: bool = False
    errors: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0
    transitions: list[str] = field(default_factory=list)  # one line per fired/resolved alert, for the logs

    def summary(self) -> str:
        text = (f"{self.firing} firing, {self.fired} newly fired, {self.resolved} resolved, "
                f"{self.notifications} notifications queued")
        extras = []
        if self.pending:
            extras.append(f"{self.pending} pending")
        if self.acknowledged:
            extras.append(f"{self.acknowledged} acknowledged")
        if self.muted:
            extras.append(f"{self.muted} muted")
        if self.behind:
            extras.append("behind: more to read next tick")
        if self.errors:
            extras.append(f"{len(self.errors)} source errors")
        return text + (f" ({', '.join(extras)})" if extras else "")


def integration_info(config: IntegrationsFile | None) -> dict[str, IntegrationInfo]:
    if config is None:
        return {}
    return {i.name: IntegrationInfo(category=i.category, group=i.group or "", sla=i.sla, depends_on=i.depends_on,
                                    windows=i.windows, type=i.type)
            for i in config.integrations if i.enabled}


def config_fingerprint(config: AlertingConfig) -> str:
    text = repr((config.rules, config.route, config.inhibit_rules, sorted(config.receivers),
                 sorted(config.escalation_policies.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class AlertEngine:
    """The alert engine over the project database. ``clock`` is injectable: tests drive it with virtual time."""

    def __init__(self, engine: Engine, config: AlertingConfig, integrations: IntegrationsFile | None = None, *,
                 dnb_rate_limit_per_second: float = 5.0, links: LinkBuilder | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.config = config
        self.integrations = integration_info(integrations)
        self.dnb_rate_limit_per_second = dnb_rate_limit_per_second
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lifecycle = Lifecycle(config)
        self.dispatcher = Dispatcher(config, links)
        self.inhibit_rules = [InhibitRule(tuple(r.source_matchers), tuple(r.target_matchers), r.equal)
                              for r in config.inhibit_rules]
        self.dependencies = dependency_closure({name: info.depends_on for name, info in self.integrations.items()})
        self.config_hash = config_fingerprint(config)

    def evaluate(self, inputs: DagsterInputs | None = None, *, now: datetime | None = None,
                 budget_seconds: float | None = None,
                 before_commit: Callable[[Connection], None] | None = None) -> EvaluationReport:
        """Evaluate once at ``now`` (default: the clock); ``before_commit`` sees the transaction just before it
        commits (the crash tests kill the process there)."""
        started = time.monotonic()
        now = now or self.clock()
        report = EvaluationReport(at=now)
        budget = budget_seconds if budget_seconds is not None else self.config.evaluation.budget
        with self.engine.begin() as connection:
            store.lock(connection, now)
            states = store.load_states(connection)
            cursors: dict[str, Any] = states.get(CURSORS) or {}
            changes = Changes()
            config_changed = cursors.get("config") != self.config_hash
            if config_changed:
                self.lifecycle.retire(connection, now, changes)
                cursors["config"] = self.config_hash
            collected = self._collect(connection, cursors, inputs or DagsterInputs(), now, started + budget, report)
            report.observations = len(collected.observations)
            report.behind = collected.behind
            self.lifecycle.apply(connection, collected.observations, collected.complete, now, changes)
            self.lifecycle.run_timers(connection, now, changes)
            self._mute(connection, states, now, changes, config_changed, report)
            store.save_alerts(connection, changes.rows.values())
            self.dispatcher.join_groups(connection, [row for row in changes.fired if row.is_firing], now)
            if changes.rearmed:
                self.dispatcher.rearm(connection, changes.rearmed, now)
            dispatched = self.dispatcher.run_due(connection, now, dict(changes.rows))
            store.record_events(connection, changes.events + dispatched.events)
            store.save_state(connection, CURSORS, cursors, now)
            report.opened, report.fired = changes.opened, len(changes.fired)
            report.resolved, report.rearmed = len(changes.resolved), len(changes.rearmed)
            report.notifications = dispatched.enqueued
            transitioned = [(row.rule, row.labels, row.state) for row in (*changes.fired, *changes.resolved)]
            report.transitions = [f"{rule} {_labels_text(labels)}: {state}" for rule, labels, state in transitioned]
            self._count(connection, report)
            report.duration_seconds = time.monotonic() - started
            self._record_evaluation(connection, states.get(LAST_EVALUATION) or {}, report, now)
            if before_commit is not None:
                before_commit(connection)
        for rule, labels, state in transitioned:  # committed: each one line, with the alert's log context
            with log_context(**alert_log_fields(rule, labels)):
                logger.info("alert %s %s", rule, state)
        return report

    def _collect(self, connection: Connection, cursors: dict[str, Any], inputs: DagsterInputs, now: datetime,
                 deadline: float, report: EvaluationReport) -> Collected:
        context = SourceContext(connection=connection, now=now, cursors=cursors, integrations=self.integrations,
                                portfolios=self.config.portfolios, inputs=inputs, deadline=deadline,
                                dnb_rate_limit_per_second=self.dnb_rate_limit_per_second,
                                dnb_batch=self.config.evaluation.dnb_batch)
        collected = Collected()
        by_source: dict[str, list[Any]] = {}
        for rule in self.config.enabled_rules:
            by_source.setdefault(rule.source, []).append(rule)
        for source in SOURCES:
            rules = by_source.get(source.name)
            if not rules:
                continue
            if context.out_of_time():
                collected.behind = True
                break
            saved = {key: (dict(value) if isinstance(value, dict) else value) for key, value in cursors.items()}
            try:
                with connection.begin_nested():  # a failing source rolls back alone; the others still count
                    collected.extend(source.collect(context, rules))
            except Exception as error:  # noqa: BLE001 - one broken source must not silence every other
                cursors.clear()
                cursors.update(saved)
                message = f"{source.name}: {type(error).__name__}: {error}"
                report.errors.append(message[:500])
                logger.warning("alert source %s failed: %s", source.name, error)
        return collected

    def _mute(self, connection: Connection, states: Mapping[str, Any], now: datetime, changes: Changes,
              config_changed: bool, report: EvaluationReport) -> None:
        state = states.get(MUTING) or {}
        version = int(states.get(silence_store.SILENCES_VERSION) or 0)
        due_at = state.get("due_at")
        if not (config_changed or changes.fired or changes.resolved or changes.rearmed
                or state.get("silences_version") != version
                or (due_at is not None and datetime.fromisoformat(due_at) <= now)):
            return
        light = {row.id: row for row in store.open_mute_rows(connection)}
        for row_id, row in changes.rows.items():  # not saved yet: this evaluation's changes win
            if row.is_open:
                light[row_id] = store.MuteRow(row.id, row.labels, row.source, row.state, row.silenced, row.inhibited,
                                              row.muted_by)
            else:
                light.pop(row_id, None)
        maintenance = {name: window.label() for name, info in self.integrations.items()
                       for window in info.windows if window.active(now)}
        candidates = [MuteCandidate(row.id, row.labels, row.source, row.state in (FIRING, ACKNOWLEDGED))
                      for row in light.values()]
        mutes = compute_mutes(candidates, silences=silence_store.active_silences(connection, now),
                              inhibit_rules=self.inhibit_rules, now=now, dependencies=self.dependencies,
                              maintenance=maintenance)
        changed = [row_id for row_id, mute in mutes.items()
                   if (light[row_id].silenced, light[row_id].inhibited, light[row_id].muted_by)
                   != (mute.silenced, mute.inhibited, mute.reason)]
        loaded = store.alerts_by_id(connection, [row_id for row_id in changed if row_id not in changes.rows])
        for row_id in changed:
            row, mute = changes.rows.get(row_id) or loaded[row_id], mutes[row_id]
            for flag, event in ((mute.silenced != row.silenced, "silenced" if mute.silenced else "unsilenced"),
                                (mute.inhibited != row.inhibited, "inhibited" if mute.inhibited else "uninhibited")):
                if flag:
                    changes.note(row, event, mute.reason or "no longer muted", now)
                    report.muted_changes += 1
            row.silenced, row.inhibited, row.muted_by = mute.silenced, mute.inhibited, mute.reason
            changes.rows[row.id] = row
        boundary = silence_store.next_boundary(connection, now)
        if any(info.windows for info in self.integrations.values()):
            boundary = min(boundary or now + MAINTENANCE_RECHECK, now + MAINTENANCE_RECHECK)
        store.save_state(connection, MUTING, {"silences_version": version,
                                              "due_at": boundary.isoformat() if boundary else None}, now)

    def _count(self, connection: Connection, report: EvaluationReport) -> None:
        table = alerts.c
        for state, severity, muted, count in connection.execute(
                select(table.state, table.severity, table.silenced | table.inhibited, func.count())
                .where(table.state.in_((PENDING, FIRING, ACKNOWLEDGED)))
                .group_by(table.state, table.severity, table.silenced | table.inhibited)):
            if state == PENDING:
                report.pending += count
                continue
            if muted:
                report.muted += count
            if state == ACKNOWLEDGED:
                report.acknowledged += count
            else:
                report.firing += count
                report.firing_by_severity[severity] = report.firing_by_severity.get(severity, 0) + count

    def _record_evaluation(self, connection: Connection, previous: Mapping[str, Any], report: EvaluationReport,
                           now: datetime) -> None:
        behind_since = (previous.get("behind_since") or now.isoformat()) if report.behind else None
        store.save_state(connection, LAST_EVALUATION, {
            "at": now.isoformat(), "duration_seconds": round(report.duration_seconds, 3), "behind": report.behind,
            "behind_since": behind_since, "errors": report.errors, "firing": report.firing,
            "summary": report.summary(),
        }, now)


def _labels_text(labels: Mapping[str, str]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "source", "severity") and v]
    return "{" + ", ".join(shown) + "}"
