"""Acceptance tests in the style of Alertmanager's: a virtual clock, observations pushed at virtual times, the engine
evaluated every few virtual seconds as its sensor would, and the outbox read back as the recording receiver.

    at = Acceptance(engine, CONFIG)
    at.integration(0, "stripe", "DOWN")
    at.run(until=400)
    at.want(between(30, 35), "team", "trigger", stripe="firing")
    at.check()
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, insert, select, update

from monitoring_pipeline.alerting.config import parse_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.alerting.sources.records import CheckEvaluation, DagsterInputs
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.storage.schema import alert_outbox, integration_state_changes, integration_states

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def between(low: float, high: float) -> tuple[float, float]:
    return (low, high)


@dataclass(frozen=True)
class Received:
    """One notification as the recording receiver got it: seconds after T0, kind, receiver, alerts by name."""

    at: float
    kind: str
    receiver: str
    alerts: dict[str, str]  # name (integration, asset, receiver, ...) -> state
    escalation_level: int
    notification: Notification = field(compare=False, repr=False)


@dataclass
class _Want:
    window: tuple[float, float]
    receiver: str
    kind: str
    alerts: dict[str, str]
    escalation_level: int | None


def alert_name(labels: dict[str, str]) -> str:
    for key in ("integration", "asset", "receiver", "duns", "job"):
        if labels.get(key):
            return labels[key] if key != "asset" else f"{labels[key]}:{labels.get('check_name', '')}"
    return labels.get("alertname", "?")


class Acceptance:
    def __init__(self, engine: Engine, config_yaml: str, *, step: float = 5.0,
                 integrations: IntegrationsFile | None = None) -> None:
        self.engine = engine
        self.config = parse_alerting(Path("acceptance.yaml"), yaml.safe_load(textwrap.dedent(config_yaml)))
        self.alert_engine = AlertEngine(engine, self.config, integrations, clock=lambda: self.now)
        self.step = step
        self.now = T0
        self._actions: list[tuple[float, int, Callable[[], None]]] = []
        self._checks: dict[tuple[str, str], CheckEvaluation] = {}
        self._record_ids = 0
        self._wants: list[_Want] = []
        self.reports: list[Any] = []

    def time(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    # -- pushes ----------------------------------------------------------------------------------------------------

    def do(self, at: float, action: Callable[[], None]) -> None:
        self._actions.append((at, len(self._actions), action))

    def integration(self, at: float, name: str, state: str) -> None:
        """The probe sensor moved ``name`` to ``state`` at ``at`` (rows as integrations/store.py writes them)."""
        self.do(at, lambda: set_integration_state(self.engine, name, state, self.time(at)))

    def asset_check(self, at: float, asset: str, check: str, passed: bool, severity: str = "ERROR") -> None:
        def push() -> None:
            self._record_ids += 1
            self._checks[(asset, check)] = CheckEvaluation(asset, check, passed, severity, self.time(at),
                                                           self._record_ids, description=f"{check} on {asset}")
        self.do(at, push)

    def in_transaction(self, at: float, action: Callable[[Connection, datetime], Any]) -> None:
        def run() -> None:
            with self.engine.begin() as connection:
                action(connection, self.time(at))
        self.do(at, run)

    # -- running ---------------------------------------------------------------------------------------------------

    def run(self, until: float, start: float = 0.0) -> None:
        """Evaluate every ``step`` virtual seconds from ``start`` to ``until`` (inclusive), applying each push just
        before the first evaluation at or after its time."""
        pending = sorted(self._actions, key=lambda item: (item[0], item[1]))
        self._actions = []
        tick = start
        while tick <= until + 1e-9:
            while pending and pending[0][0] <= tick + 1e-9:
                at, _, action = pending.pop(0)
                self.now = self.time(at)
                action()
            self.now = self.time(tick)
            self.reports.append(self.alert_engine.evaluate(DagsterInputs(checks=list(self._checks.values()))))
            tick += self.step

    # -- the recording receiver ------------------------------------------------------------------------------------

    def received(self) -> list[Received]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(alert_outbox).order_by(alert_outbox.c.id)).all()
        found = []
        for row in rows:
            notification = Notification.from_json(row.payload)
            found.append(Received(
                at=(notification.created_at - T0).total_seconds(), kind=notification.kind,
                receiver=notification.receiver,
                alerts={alert_name(dict(a.labels)): a.state for a in notification.alerts},
                escalation_level=notification.escalation_level, notification=notification))
        return found

    def want(self, window: tuple[float, float], receiver: str, kind: str, escalation_level: int | None = None,
             **alerts: str) -> None:
        self._wants.append(_Want(window, receiver, kind, {k.replace("__", ":"): v for k, v in alerts.items()},
                                 escalation_level))

    def check(self) -> list[Received]:
        """Every wanted notification arrived once within its window, and nothing else arrived."""
        received = self.received()
        unmatched = list(received)
        problems = []
        for want in self._wants:
            match = next((r for r in unmatched if want.window[0] <= r.at <= want.window[1]
                          and r.receiver == want.receiver and r.kind == want.kind and r.alerts == want.alerts
                          and (want.escalation_level is None or r.escalation_level == want.escalation_level)), None)
            if match is None:
                problems.append(f"missing: {want}")
            else:
                unmatched.remove(match)
        problems += [f"unexpected: {r}" for r in unmatched]
        assert not problems, "\n".join(problems) + "\nreceived:\n" + "\n".join(str(r) for r in received)
        return received


def set_integration_state(engine: Engine, name: str, state: str, at: datetime, cause: str = "test") -> None:
    with engine.begin() as connection:
        exists = connection.execute(select(integration_states.c.state).where(
            integration_states.c.integration == name)).scalar_one_or_none()
        if exists is None:
            connection.execute(insert(integration_states).values(integration=name, state=state, since=at, cause=cause,
                                                                 updated_at=at))
        else:
            connection.execute(update(integration_states).where(integration_states.c.integration == name)
                               .values(state=state, since=at, cause=cause, updated_at=at))
        connection.execute(insert(integration_state_changes).values(
            integration=name, changed_at=at, from_state=exists or "UNKNOWN", to_state=state, cause=cause))
