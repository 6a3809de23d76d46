"""The project database side of probing: current states, probe results, state changes, failover and routing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from monitoring_pipeline.circuit_breaker import BreakerState
from monitoring_pipeline.integrations.failover import FailoverEvent, RoutingDecision
from monitoring_pipeline.integrations.runner import ProbeResult
from monitoring_pipeline.integrations.state import HealthState, Transition
from monitoring_pipeline.storage.schema import (
    integration_failover_events,
    integration_probe_results,
    integration_routing,
    integration_state_changes,
    integration_states,
)

# Rows per INSERT statement: large passes (thousands of endpoints) go in a few round trips.
_INSERT_CHUNK = 1000


@dataclass(frozen=True)
class IntegrationStatus:
    """Everything kept between passes about one integration."""

    health: HealthState = field(default_factory=HealthState)
    breaker: BreakerState = field(default_factory=BreakerState)
    last_probe_at: datetime | None = None
    last_outcome: str | None = None
    last_latency_ms: float | None = None
    last_reported_at: datetime | None = None


def load_statuses(engine: Engine) -> dict[str, IntegrationStatus]:
    with engine.connect() as connection:
        rows = connection.execute(select(integration_states)).all()
    return {row.integration: _status_from_row(row) for row in rows}


def _status_from_row(row) -> IntegrationStatus:  # type: ignore[no-untyped-def]
    health = HealthState(
        state=row.state, since=row.since, cause=row.cause or "", failures=row.failures, successes=row.successes,
        slow=row.slow, fast=row.fast, baseline=row.baseline, explained_by=row.explained_by,
    )
    breaker = BreakerState(
        failures=row.breaker_failures,
        opened_at=row.breaker_opened_at.timestamp() if row.breaker_opened_at else None,
        trial_successes=row.breaker_trial_successes,
        times_opened=row.breaker_times_opened,
    )
    return IntegrationStatus(health, breaker, row.last_probe_at, row.last_outcome, row.last_latency_ms,
                             row.last_reported_at)


def _status_row(name: str, status: IntegrationStatus, breaker_state: str, now: datetime) -> dict[str, object]:
    health, breaker = status.health, status.breaker
    return {
        "integration": name,
        "state": health.state,
        "since": health.since,
        "cause": health.cause,
        "explained_by": health.explained_by,
        "failures": health.failures,
        "successes": health.successes,
        "slow": health.slow,
        "fast": health.fast,
        "baseline": health.baseline,
        "breaker_state": breaker_state,
        "breaker_failures": breaker.failures,
        "breaker_opened_at": datetime.fromtimestamp(breaker.opened_at, UTC) if breaker.opened_at else None,
        "breaker_trial_successes": breaker.trial_successes,
        "breaker_times_opened": breaker.times_opened,
        "last_probe_at": status.last_probe_at,
        "last_outcome": status.last_outcome,
        "last_latency_ms": status.last_latency_ms,
        "last_reported_at": status.last_reported_at,
        "updated_at": now,
    }


def result_row(result: ProbeResult, state: str) -> dict[str, object]:
    return {
        "integration": result.integration,
        "probed_at": result.started_at,
        "outcome": result.outcome,
        "state": state,
        "status_code": result.status_code,
        "latency_ms": round(result.latency_ms, 3) if result.latency_ms is not None else None,
        "error_class": result.error_class,
        "error": result.error,
        "conditions": json.dumps([c.as_json() for c in result.conditions]) if result.conditions else None,
        "attempts": result.attempts,
        "tls_days_left": result.tls_days_left,
    }


def save_pass(
    engine: Engine,
    *,
    now: datetime,
    results: Sequence[tuple[ProbeResult, str]],
    statuses: dict[str, tuple[IntegrationStatus, str]],
    transitions: Sequence[Transition],
    failovers: Sequence[FailoverEvent],
    routing: Sequence[RoutingDecision],
) -> None:
    """Everything one pass learnt, in one transaction: a crash leaves the previous pass intact."""
    with engine.begin() as connection:
        rows = [result_row(result, state) for result, state in results]
        for start in range(0, len(rows), _INSERT_CHUNK):
            connection.execute(insert(integration_probe_results), rows[start:start + _INSERT_CHUNK])
        if statuses:
            names = list(statuses)
            existing = set(connection.execute(
                select(integration_states.c.integration).where(integration_states.c.integration.in_(names))
            ).scalars())
            fresh = [_status_row(n, s, b, now) for n, (s, b) in statuses.items() if n not in existing]
            if fresh:
                connection.execute(insert(integration_states), fresh)
            changed = [_status_row(n, s, b, now) for n, (s, b) in statuses.items() if n in existing]
            if changed:
                columns = [key for key in changed[0] if key != "integration"]
                statement = (
                    update(integration_states)
                    .where(integration_states.c.integration == bindparam("key"))
                    .values({column: bindparam(f"v_{column}") for column in columns})
                )
                connection.execute(statement, [
                    {"key": row["integration"], **{f"v_{column}": row[column] for column in columns}}
                    for row in changed
                ])
        if transitions:
            connection.execute(insert(integration_state_changes), [
                {"integration": t.integration, "changed_at": t.at, "from_state": t.from_state,
                 "to_state": t.to_state, "cause": t.cause, "explained_by": t.explained_by}
                for t in transitions
            ])
        if failovers:
            connection.execute(insert(integration_failover_events), [
                {"failover_group": e.group, "switched_at": e.at, "from_integration": e.from_provider,
                 "to_integration": e.to_provider, "reason": e.reason}
                for e in failovers
            ])
        for decision in routing:
            connection.execute(delete(integration_routing).where(
                integration_routing.c.failover_group == decision.group))
            connection.execute(insert(integration_routing).values(
                failover_group=decision.group,
                active_integration=decision.active,
                weights=json.dumps(decision.weights, sort_keys=True),
                members=json.dumps([m.as_json() for m in decision.members]),
                reason=decision.reason,
                decided_at=now,
            ))


def mark_reported(engine: Engine, names: Iterable[str], at: datetime) -> None:
    names = list(names)
    if not names:
        return
    with engine.begin() as connection:
        connection.execute(update(integration_states).where(integration_states.c.integration.in_(names))
                           .values(last_reported_at=at))


def active_providers(engine: Engine) -> dict[str, str | None]:
    """The active provider per failover group, as last decided."""
    with engine.connect() as connection:
        rows = connection.execute(select(integration_routing.c.failover_group,
                                         integration_routing.c.active_integration)).all()
    return {row.failover_group: row.active_integration for row in rows}


def routing_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(select(integration_routing).order_by(integration_routing.c.failover_group)).all()
    return [
        {"group": row.failover_group, "active": row.active_integration, "weights": json.loads(row.weights),
         "members": json.loads(row.members), "reason": row.reason, "decided_at": row.decided_at}
        for row in rows
    ]


@dataclass(frozen=True)
class WindowSample:
    outcome: str
    latency_ms: float | None
    state: str


def recent_results(engine: Engine, names: Sequence[str], since: datetime) -> dict[str, list[WindowSample]]:
    """Each integration's probe results since ``since`` (the reporting window), oldest first."""
    if not names:
        return {}
    table = integration_probe_results
    found: dict[str, list[WindowSample]] = {name: [] for name in names}
    with engine.connect() as connection:
        for start in range(0, len(names), _INSERT_CHUNK):
            chunk = list(names[start:start + _INSERT_CHUNK])
            rows = connection.execute(
                select(table.c.integration, table.c.outcome, table.c.latency_ms, table.c.state)
                .where(table.c.integration.in_(chunk), table.c.probed_at >= since)
                .order_by(table.c.probed_at)
            )
            for row in rows:
                found[row.integration].append(WindowSample(row.outcome, row.latency_ms, row.state))
    return found
