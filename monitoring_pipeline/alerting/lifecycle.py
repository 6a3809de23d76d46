"""The alert lifecycle: observations and the clock move alerts between pending, firing, acknowledged and resolved.

State rules:
- A holding observation opens a *pending* alert. Once ``consecutive.failures`` observations in a row hold, it
  fires after ``for`` (at once when 0). A pending alert whose condition stops holding is resolved without having
  fired (kept in the history, left out of the statistics).
- A firing alert resolves after ``consecutive.successes`` observations in a row that do not hold, and then only
  after ``keep_firing_for`` without the condition coming back (against flapping).

Event rules: each event fires an alert at once, or joins the open alert of the same fingerprint (one per company
by default), and the alert resolves ``resolve_after`` after the last event, or when acknowledged.

An acknowledgement lapses after the acknowledgement timeout while the alert still fires: it fires again, and
reminders and escalation re-arm. Every transition is a history event with when, why and who.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.config import AlertingConfig, EventRule, RuleConfig, StateRule
from monitoring_pipeline.alerting.sources.base import Observation
from monitoring_pipeline.alerting.store import ACKNOWLEDGED, ENGINE_ACTOR, FIRING, PENDING, RESOLVED, AlertRow
from monitoring_pipeline.alerting.templates import TemplateProblem, compile_template, render, template_context


def fingerprint(rule: str, labels: Mapping[str, str], identity: str = "", volatile: tuple[str, ...] = ()) -> str:
    """Stable per rule and identity labels (severity is not identity: an asset check going from WARN to ERROR stays
    one alert; nor are the source's volatile labels)."""
    text = rule + "\x00" + "\x00".join(f"{k}={v}" for k, v in sorted(labels.items())
                                       if k != "severity" and k not in volatile)
    return hashlib.sha256((text + "\x00" + identity).encode()).hexdigest()[:32]


@dataclass
class Changes:
    """What one pass of the lifecycle changed, to be saved in the same transaction."""

    rows: dict[int, AlertRow] = field(default_factory=dict)  # new alerts have negative ids until inserted
    notes: list[tuple[AlertRow, datetime, str, str, str | None]] = field(default_factory=list)
    fired: list[AlertRow] = field(default_factory=list)
    resolved: list[AlertRow] = field(default_factory=list)
    rearmed: list[AlertRow] = field(default_factory=list)  # acknowledgements that lapsed
    new: list[AlertRow] = field(default_factory=list)  # opened, not inserted yet
    opened: int = 0

    def note(self, row: AlertRow, event: str, detail: str, at: datetime, actor: str | None = ENGINE_ACTOR) -> None:
        self.rows[row.id] = row
        self.notes.append((row, at, event, detail, actor))

    @property
    def events(self) -> list[store.HistoryEvent]:
        return [store.HistoryEvent(row.id, at, event, detail, actor) for row, at, event, detail, actor in self.notes]

    def insert_new(self, connection: Connection) -> None:
        """Insert the alerts opened so far in a few statements; they get their real ids."""
        if not self.new:
            return
        store.insert_alerts(connection, self.new)
        self.rows = {row.id: row for row in self.rows.values()}
        self.new = []


class Lifecycle:
    def __init__(self, config: AlertingConfig) -> None:
        self.config = config
        self.rules: dict[str, RuleConfig] = {rule.name: rule for rule in config.enabled_rules}
        self._templates: dict[tuple[str, str], Any] = {}

    # -- observations ------------------------------------------------------------------------------------------

    def apply(self, connection: Connection, observations: Sequence[Observation], complete: Iterable[str],
              now: datetime, changes: Changes) -> None:
        """Move alerts by ``observations``; open alerts of ``complete`` rules that were not observed stop holding."""
        prepared = [(obs, self._labels(obs), self.rules[obs.rule]) for obs in observations if obs.rule in self.rules]
        keyed = [(fingerprint(obs.rule, labels, obs.identity, obs.volatile), obs, labels, rule)
                 for obs, labels, rule in prepared]
        found = store.open_alerts_by_fingerprint(connection, [key for key, *_ in keyed])
        complete = [name for name in complete if name in self.rules]
        if complete:
            observed = {key for key, *_ in keyed}
            for row in store.open_alerts(connection, complete):
                found.setdefault(row.fingerprint, row)
                if row.fingerprint not in observed and row.condition and not row.is_event:
                    self._not_holding(row, now, now, None, row.details, changes, "no longer observed")
        for key, obs, labels, rule in sorted(keyed, key=lambda item: item[1].at):
            row = found.get(key)
            if row is not None and not row.is_open:
                if row.id > 0:
                    store.save_alerts(connection, [row])  # frees its fingerprint before a new alert takes it
                row = None
            if isinstance(rule, EventRule):
                found[key] = self._event(connection, row, key, obs, labels, rule, now, changes)
            elif obs.active:
                found[key] = self._holding(connection, row, key, obs, labels, rule, now, changes)
            elif row is not None:  # details and annotations stay those of the condition that fired it
                self._not_holding(row, obs.at, now, obs.value, obs.details, changes)
        changes.insert_new(connection)

    def _holding(self, connection: Connection, row: AlertRow | None, key: str, obs: Observation,
                 labels: dict[str, str], rule: RuleConfig, now: datetime, changes: Changes) -> AlertRow:
        assert isinstance(rule, StateRule)
        if row is None:
            row = self._open(connection, key, obs, labels, rule, now, PENDING, changes)
            changes.opened += 1
            changes.note(row, PENDING, f"condition holds ({_brief(obs)})", now)
        else:
            self._update(row, obs, labels, rule)
            row.condition = True
            row.active_streak += 1
            row.inactive_streak = 0
            row.last_observed_at = obs.at
            if row.clear_at is not None and row.is_firing:
                row.clear_at = None
                changes.note(row, "holding", "condition holds again: stays firing", now)
            changes.rows[row.id] = row
        if row.state == PENDING and row.active_streak >= rule.consecutive.failures and row.fire_at is None:
            row.fire_at = max(obs.at, row.active_since) + timedelta(seconds=rule.for_)
        if row.state == PENDING and row.fire_at is not None and row.fire_at <= now:
            self.fire(row, now, changes, self._fire_reason(rule, row))
        return row

    def _not_holding(self, row: AlertRow, at: datetime, now: datetime, value: float | None,
                     details: Mapping[str, Any], changes: Changes, why: str = "condition no longer holds") -> None:
        rule = self.rules.get(row.rule)
        row.condition = False
        row.active_streak = 0
        row.inactive_streak += 1
        row.last_observed_at = at
        changes.rows[row.id] = row
        if row.state == PENDING:
            self.resolve(row, now, changes, f"{why} before it fired")
            return
        successes = rule.consecutive.successes if isinstance(rule, StateRule) else 1
        if row.inactive_streak < successes:
            return
        keep = rule.keep_firing_for if isinstance(rule, StateRule) else 0.0
        if keep > 0:
            if row.clear_at is None:
                row.clear_at = at + timedelta(seconds=keep)
                changes.note(row, "clearing", f"{why}; keeps firing until {row.clear_at:%H:%M:%S} "
                             "(keep_firing_for)", now)
            if row.clear_at <= now:
                self.resolve(row, now, changes, f"{why} for keep_firing_for")
        else:
            self.resolve(row, now, changes, why)

    def _event(self, connection: Connection, row: AlertRow | None, key: str, obs: Observation, labels: dict[str, str],
               rule: RuleConfig, now: datetime, changes: Changes) -> AlertRow:
        assert isinstance(rule, EventRule)
        clear_at = obs.at + timedelta(seconds=rule.resolve_after)
        if row is None:
            row = self._open(connection, key, obs, labels, rule, now, PENDING, changes)
            row.clear_at = clear_at
            changes.opened += 1
            self.fire(row, now, changes, f"event: {_brief(obs)}")
            return row
        row.event_count += 1
        details = dict(obs.details)
        details["count"] = row.event_count
        row.clear_at = max(row.clear_at or clear_at, clear_at)
        self._update(row, Observation(obs.rule, obs.labels, True, obs.at, obs.value, details, obs.severity), labels,
                     rule)
        row.last_observed_at = obs.at
        changes.note(row, "event", f"another event ({row.event_count} in all): {_brief(obs)}", now)
        return row

    def _open(self, connection: Connection, key: str, obs: Observation, labels: dict[str, str], rule: RuleConfig,
              now: datetime, state: str, changes: Changes) -> AlertRow:
        severity = obs.severity or rule.severity
        row = AlertRow(
            id=-(len(changes.new) + 1), fingerprint=key, rule=rule.name, source=rule.source, severity=severity,
            state=state,
            is_event=rule.event, labels={**labels, "severity": severity}, annotations={}, details=dict(obs.details),
            value=obs.value, silenced=False, inhibited=False, muted_by=None, condition=True, active_streak=1,
            inactive_streak=0, event_count=1, active_since=obs.at, last_observed_at=obs.at, fire_at=None,
            clear_at=None, fired_at=None, acknowledged_at=None, acknowledged_by=None, acknowledgement_comment=None,
            resolved_at=None, resolved_by=None, updated_at=now,
        )
        row.annotations = self.annotations(rule, row)
        changes.new.append(row)
        return row

    def _update(self, row: AlertRow, obs: Observation, labels: dict[str, str], rule: RuleConfig) -> None:
        severity = obs.severity or rule.severity
        row.severity = severity
        row.labels = {**labels, "severity": severity}
        row.value = obs.value
        row.details = dict(obs.details)
        row.annotations = self.annotations(rule, row)

    def _labels(self, obs: Observation) -> dict[str, str]:
        rule = self.rules[obs.rule]
        return {**obs.labels, **rule.labels, "alertname": rule.name, "source": rule.source}

    def _fire_reason(self, rule: StateRule, row: AlertRow) -> str:
        parts = []
        if rule.consecutive.failures > 1:
            parts.append(f"{row.active_streak} observations in a row")
        if rule.for_:
            parts.append(f"held for {rule.for_:g}s")
        return "condition holds" + (f" ({', '.join(parts)})" if parts else "")

    def annotations(self, rule: RuleConfig, row: AlertRow) -> dict[str, str]:
        context = template_context(labels=row.labels, value=row.value, details=row.details, rule=rule.name,
                                   severity=row.severity, source=rule.source)
        rendered = {}
        for name, text in rule.annotations.items():
            template = self._templates.get((rule.name, name))
            if template is None:
                template = self._templates[(rule.name, name)] = compile_template(text)
            try:
                rendered[name] = render(template, context)
            except TemplateProblem as error:  # checked at load; data can still surprise (a value of another type)
                rendered[name] = f"({name} could not be rendered: {error})"
        rendered.setdefault("summary", _default_summary(rule.name, row.labels))
        return rendered

    # -- transitions ---------------------------------------------------------------------------------------------

    def fire(self, row: AlertRow, now: datetime, changes: Changes, why: str) -> None:
        row.state = FIRING
        row.fired_at = now
        row.fire_at = None
        row.updated_at = now
        changes.fired.append(row)
        changes.note(row, FIRING, why, now)

    def resolve(self, row: AlertRow, now: datetime, changes: Changes, why: str, by: str | None = None) -> None:
        row.set_resolved(now, by)
        if row.fired_at is not None:
            changes.resolved.append(row)
        changes.note(row, RESOLVED, why, now, by or ENGINE_ACTOR)

    # -- the clock -----------------------------------------------------------------------------------------------

    def run_timers(self, connection: Connection, now: datetime, changes: Changes) -> None:
        """Pending alerts whose ``for`` ran out fire; alerts whose keep_firing_for or resolve_after ran out resolve;
        acknowledgements older than their timeout lapse."""
        cached = changes.rows
        for row in store.due_alerts(connection, now):
            row = cached.get(row.id, row)
            rule = self.rules.get(row.rule)
            if row.state == PENDING and row.fire_at is not None and row.fire_at <= now and row.condition:
                self.fire(row, now, changes, self._fire_reason(rule, row) if isinstance(rule, StateRule)
                          else "condition holds")
            elif row.is_open and row.clear_at is not None and row.clear_at <= now:
                if row.is_event:
                    self.resolve(row, now, changes, "resolve_after passed without another event")
                elif not row.condition:
                    self.resolve(row, now, changes, "condition no longer holds for keep_firing_for")
                else:
                    row.clear_at = None
                    changes.rows[row.id] = row
        for row in store.acknowledged_alerts(connection):
            row = cached.get(row.id, row)
            timeout = self.ack_timeout(row.severity)
            if row.state != ACKNOWLEDGED or timeout is None or row.acknowledged_at is None:
                continue
            if row.acknowledged_at + timedelta(seconds=timeout) <= now:
                row.state = FIRING
                row.updated_at = now
                changes.rearmed.append(row)
                changes.note(row, "acknowledgement_expired", f"acknowledged by {row.acknowledged_by} at "
                             f"{row.acknowledged_at:%Y-%m-%d %H:%M:%S} UTC and still firing after {timeout:g}s: "
                             "reminders and escalation resume", now)

    def ack_timeout(self, severity: str) -> float | None:
        policy = self.config.policy_for_severity(severity)
        if policy is not None and policy.ack_timeout is not None:
            return policy.ack_timeout
        return self.config.acknowledgement.timeout

    def retire(self, connection: Connection, now: datetime, changes: Changes) -> None:
        """Open alerts of rules no longer configured or enabled resolve."""
        for row in store.open_alerts(connection):
            if row.rule not in self.rules:
                row = changes.rows.get(row.id, row)
                if row.is_open:
                    self.resolve(row, now, changes, "its rule was removed or disabled in the configuration")


def _brief(obs: Observation) -> str:
    parts = [f"{k}={v}" for k, v in sorted(obs.labels.items()) if v]
    if obs.value is not None:
        parts.append(f"value={obs.value:g}")
    return ", ".join(parts) or "no labels"


def _default_summary(rule: str, labels: Mapping[str, str]) -> str:
    shown = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity", "source") and v]
    return rule + (f" ({', '.join(shown)})" if shown else "")


LinkBuilder = Callable[[AlertRow], Mapping[str, str]]
