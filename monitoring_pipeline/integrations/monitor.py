"""One probing pass: probe what is due, move states and breakers, decide failover, store and publish it all.

This is what the sensor runs every tick, as plain Python: the sensor only turns the outcome into Dagster events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from monitoring_pipeline.circuit_breaker import BreakerState
from monitoring_pipeline.integrations import push, store
from monitoring_pipeline.integrations.config import IntegrationConfig, IntegrationsFile
from monitoring_pipeline.integrations.failover import FailoverEvent, Member, RoutingDecision, decide, switch_event
from monitoring_pipeline.integrations.probes.push import PushIntegration
from monitoring_pipeline.integrations.reporting import WindowFigures, report_due, window_figures
from monitoring_pipeline.integrations.routing import publish_routing
from monitoring_pipeline.integrations.runner import ProbeResult, ProbeRunner, skipped
from monitoring_pipeline.integrations.state import Transition, advance
from monitoring_pipeline.integrations.store import IntegrationStatus

# A probe counts as due this close to its interval: sensor ticks don't land exactly on it.
_DUE_TOLERANCE_SECONDS = 2.0


@dataclass
class PassOutcome:
    at: datetime
    due: int = 0
    results: list[ProbeResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # due, but the pass ran out of time
    transitions: list[Transition] = field(default_factory=list)
    failovers: list[FailoverEvent] = field(default_factory=list)
    routing: list[RoutingDecision] = field(default_factory=list)
    statuses: dict[str, IntegrationStatus] = field(default_factory=dict)
    breaker_states: dict[str, str] = field(default_factory=dict)


@dataclass
class HealthMonitor:
    engine: Engine
    config: IntegrationsFile
    runner: ProbeRunner = field(default_factory=ProbeRunner)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    routing_file: Path | None = None

    def run_pass(self, time_budget: float | None = None) -> PassOutcome:
        """Probe every enabled integration that is due, within ``time_budget`` seconds (default: the file's)."""
        now = self.clock()
        budget = self.config.probing.tick_budget if time_budget is None else time_budget
        outcome = PassOutcome(at=now)
        statuses = store.load_statuses(self.engine)
        enabled = self.config.enabled
        due = [i for i in enabled if _is_due(statuses.get(i.name), i, now)]
        # The longest-waiting first: what did not fit in the last tick's budget goes first in this one.
        due.sort(key=lambda i: _waiting_since(statuses.get(i.name)))
        outcome.due = len(due)

        to_probe: list[IntegrationConfig] = []
        trial_breakers: dict[str, BreakerState] = {}
        results: dict[str, ProbeResult] = {}
        # Push integrations are not called: their pings are judged (no breaker: there is no call to spare).
        pushed = [i for i in due if isinstance(i, PushIntegration)]
        if pushed:
            results.update(push.evaluate(self.engine, pushed, now))
        for integration in due:
            if isinstance(integration, PushIntegration):
                continue
            breaker = statuses.get(integration.name, IntegrationStatus()).breaker
            policy = integration.breaker.policy()
            allowed, tried = breaker.try_call(policy, now.timestamp())
            if allowed:
                to_probe.append(integration)
                trial_breakers[integration.name] = tried
            else:
                results[integration.name] = skipped(integration.name, now, breaker.retry_in(policy, now.timestamp()))
        for result in self.runner.run(to_probe, budget) if to_probe else []:
            results[result.integration] = result
        outcome.not_started = [i.name for i in to_probe if i.name not in results]

        updated: dict[str, IntegrationStatus] = dict(statuses)
        stored_results: list[tuple[ProbeResult, str]] = []
        for integration in self.config.dependency_order():
            result = results.get(integration.name)
            if result is None or not integration.enabled:
                continue
            status = statuses.get(integration.name, IntegrationStatus())
            health, transition = advance(
                integration.name, status.health, result, now=now, thresholds=integration.thresholds,
                windows=integration.windows,
                dependencies={d: updated.get(d, IntegrationStatus()).health.state for d in integration.depends_on},
            )
            breaker = _breaker_after(status.breaker, trial_breakers.get(integration.name), result, integration, now)
            updated[integration.name] = replace(
                status, health=health, breaker=breaker, last_probe_at=now, last_outcome=result.outcome,
                last_latency_ms=result.latency_ms if result.latency_ms is not None else status.last_latency_ms,
            )
            stored_results.append((result, health.state))
            if transition is not None:
                outcome.transitions.append(transition)
        outcome.results = [result for result, _ in stored_results]

        timestamp = now.timestamp()
        by_name = self.config.by_name()
        outcome.breaker_states = {
            name: status.breaker.state(by_name[name].breaker.policy(), timestamp)
            for name, status in updated.items() if name in by_name
        }
        previous = store.active_providers(self.engine)
        for group, members in sorted(self.config.failover_groups().items()):
            decision = decide(group, [
                Member(m.name, m.failover.role, m.failover.weight,  # type: ignore[union-attr]
                       updated.get(m.name, IntegrationStatus()).health.state,
                       outcome.breaker_states.get(m.name, "closed"))
                for m in members
            ], previous.get(group))
            outcome.routing.append(decision)
            event = switch_event(previous.get(group), decision, now, first_decision=group not in previous)
            if event is not None:
                outcome.failovers.append(event)

        outcome.statuses = {name: status for name, status in updated.items() if name in by_name}
        store.save_pass(
            self.engine,
            now=now,
            results=stored_results,
            statuses={n: (s, outcome.breaker_states[n]) for n, s in outcome.statuses.items() if n in results},
            transitions=outcome.transitions,
            failovers=outcome.failovers,
            routing=outcome.routing,
        )
        if self.routing_file is not None and outcome.routing:
            publish_routing(self.routing_file, outcome.routing, now)
        return outcome

    def reports(self, outcome: PassOutcome, every_seconds: float) -> dict[str, WindowFigures]:
        """Figures for each integration whose reporting window has passed or whose state changed this pass;
        marks them reported."""
        changed = {t.integration for t in outcome.transitions}
        names = [
            name for name, status in outcome.statuses.items()
            if name in changed or (status.last_probe_at is not None
                                   and report_due(status.last_reported_at, outcome.at, every_seconds))
        ]
        if not names:
            return {}
        since = outcome.at - timedelta(seconds=max(every_seconds, 1.0))
        samples = store.recent_results(self.engine, names, since)
        figures = {name: window_figures(outcome.statuses[name].health.state, samples[name]) for name in names}
        store.mark_reported(self.engine, names, outcome.at)
        return figures


def _is_due(status: IntegrationStatus | None, integration: IntegrationConfig, now: datetime) -> bool:
    if status is None or status.last_probe_at is None:
        return True
    next_due = status.last_probe_at + timedelta(seconds=integration.interval - _DUE_TOLERANCE_SECONDS)
    return now >= next_due


def _waiting_since(status: IntegrationStatus | None) -> float:
    if status is None or status.last_probe_at is None:
        return float("-inf")
    return status.last_probe_at.timestamp()


def _breaker_after(before: BreakerState, tried: BreakerState | None, result: ProbeResult,
                   integration: IntegrationConfig, now: datetime) -> BreakerState:
    if tried is None:  # skipped: the breaker was open and stays as it was
        return before
    policy = integration.breaker.policy()
    settled = tried.on_success(policy, now.timestamp()) if result.ok else tried.on_failure(policy, now.timestamp())
    return replace(settled, trial_in_flight=False)
