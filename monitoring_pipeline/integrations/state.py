"""Health state per integration, moved by probe outcomes with hysteresis, each change with its cause.

States: UNKNOWN (never probed), UP, DEGRADED (answers, slower than ``latency.degraded``), PENDING (failing, fewer
than ``thresholds.failure`` times in a row), DOWN, MAINTENANCE (inside a maintenance window).

- A failed probe moves UP/DEGRADED/UNKNOWN to PENDING; ``thresholds.failure`` failures in a row make it DOWN.
- DOWN needs ``thresholds.success`` good probes in a row to leave (to DEGRADED when the last one was slow).
- UP needs ``thresholds.failure`` slow probes in a row to become DEGRADED; DEGRADED needs ``thresholds.success``
  fast ones to become UP. A good probe ends PENDING, back to the state before it.
- Inside a maintenance window the state is MAINTENANCE whatever probes find; afterwards it starts afresh.
- A skipped probe (circuit breaker open) is no evidence: nothing changes.
- When a failure makes an integration DOWN while one of its ``depends_on`` is DOWN or in MAINTENANCE, the
  change names it (``explained_by``): that failure explains this one's.

Time is always passed in (``now``), so tests drive the machine with any clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitoring_pipeline.integrations.config import Thresholds
from monitoring_pipeline.integrations.maintenance import MaintenanceWindow
from monitoring_pipeline.integrations.runner import DEGRADED as SLOW_OUTCOME
from monitoring_pipeline.integrations.runner import FAILED, SKIPPED, ProbeResult

STATE_UNKNOWN = "UNKNOWN"
STATE_UP = "UP"
STATE_DEGRADED = "DEGRADED"
STATE_PENDING = "PENDING"
STATE_DOWN = "DOWN"
STATE_MAINTENANCE = "MAINTENANCE"
STATES = (STATE_UNKNOWN, STATE_UP, STATE_DEGRADED, STATE_PENDING, STATE_DOWN, STATE_MAINTENANCE)
# As a number the Dagster UI can plot: higher is worse; maintenance sits between healthy and troubled.
STATE_CODES = {STATE_UNKNOWN: -1, STATE_UP: 0, STATE_MAINTENANCE: 1, STATE_DEGRADED: 2, STATE_PENDING: 3,
               STATE_DOWN: 4}
# States whose failures explain a dependent's.
EXPLAINING_STATES = (STATE_DOWN, STATE_MAINTENANCE)


@dataclass(frozen=True)
class HealthState:
    state: str = STATE_UNKNOWN
    since: datetime | None = None
    cause: str = ""
    failures: int = 0  # consecutive failed probes
    successes: int = 0  # consecutive good (up or slow) probes
    slow: int = 0  # consecutive slow probes
    fast: int = 0  # consecutive fast probes
    baseline: str = STATE_UP  # the healthy state PENDING returns to
    explained_by: str | None = None


@dataclass(frozen=True)
class Transition:
    integration: str
    at: datetime
    from_state: str
    to_state: str
    cause: str
    explained_by: str | None = None


def advance(
    integration: str,
    current: HealthState,
    result: ProbeResult,
    *,
    now: datetime,
    thresholds: Thresholds,
    windows: Sequence[MaintenanceWindow] = (),
    dependencies: dict[str, str] | None = None,
) -> tuple[HealthState, Transition | None]:
    """The state after ``result``; the transition when the state changed.

    ``dependencies`` maps each ``depends_on`` name to its current state (already advanced this pass).
    """
    window = next((w for w in windows if w.active(now)), None)
    if window is not None:
        if current.state == STATE_MAINTENANCE:
            return current, None
        return _move(integration, HealthState(), STATE_MAINTENANCE, now, f"maintenance window: {window.label()}",
                     current.state)
    if current.state == STATE_MAINTENANCE:
        current = replace(HealthState(), state=STATE_UNKNOWN, since=current.since)
        previous = STATE_MAINTENANCE
    else:
        previous = current.state
    if result.outcome == SKIPPED:
        return _unchanged(current, previous, now, integration)

    if result.outcome == FAILED:
        counted = replace(current, failures=current.failures + 1, successes=0, slow=0, fast=0)
        detail = f"{result.error_class}: {result.error}" if result.error else str(result.error_class)
        if counted.failures >= thresholds.failure:
            if current.state == STATE_DOWN:
                return counted, None
            explained = _explaining(dependencies)
            cause = f"{counted.failures} consecutive failed probes; last {detail}"
            if explained:
                cause += f"; explained by {explained} ({(dependencies or {})[explained]})"
            return _move(integration, replace(counted, explained_by=explained), STATE_DOWN, now, cause, previous)
        if current.state in (STATE_PENDING, STATE_DOWN):
            return counted, _left_maintenance(previous, current, integration, now)
        baseline = current.state if current.state in (STATE_UP, STATE_DEGRADED) else current.baseline
        cause = f"failed probe {counted.failures} of {thresholds.failure} before DOWN: {detail}"
        return _move(integration, replace(counted, baseline=baseline), STATE_PENDING, now, cause, previous)

    slow = result.outcome == SLOW_OUTCOME
    counted = replace(
        current,
        failures=0,
        successes=current.successes + 1,
        slow=current.slow + 1 if slow else 0,
        fast=0 if slow else current.fast + 1,
        explained_by=None,
    )
    target = _healthy_target(counted, slow, thresholds)
    if target == current.state and previous == current.state:
        return counted, None
    return _move(integration, counted, target, now, _recovery_cause(current.state, counted, slow, result), previous)


def _healthy_target(counted: HealthState, slow: bool, thresholds: Thresholds) -> str:
    state = counted.state
    if state == STATE_UNKNOWN:
        return STATE_DEGRADED if slow else STATE_UP
    if state == STATE_DOWN:
        if counted.successes < thresholds.success:
            return STATE_DOWN
        return STATE_DEGRADED if slow else STATE_UP
    if state == STATE_PENDING:
        state = counted.baseline
    if state == STATE_UP and counted.slow >= thresholds.failure:
        return STATE_DEGRADED
    if state == STATE_DEGRADED and counted.fast >= thresholds.success:
        return STATE_UP
    return state


def _recovery_cause(before: str, counted: HealthState, slow: bool, result: ProbeResult) -> str:
    latency = f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "no latency"
    if before == STATE_UNKNOWN:
        return f"first probe answered ({latency})"
    if before == STATE_DOWN:
        return f"{counted.successes} consecutive good probes ({latency})"
    if before == STATE_PENDING:
        return f"probe answered again ({latency})"
    if slow:
        return f"{counted.slow} consecutive slow probes ({latency})"
    return f"{counted.fast} consecutive fast probes ({latency})"


def _explaining(dependencies: dict[str, str] | None) -> str | None:
    for name, state in sorted((dependencies or {}).items()):
        if state in EXPLAINING_STATES:
            return name
    return None


def _move(integration: str, state: HealthState, to: str, now: datetime, cause: str,
          previous: str) -> tuple[HealthState, Transition]:
    moved = replace(state, state=to, since=now, cause=cause)
    return moved, Transition(integration, now, previous, to, cause, state.explained_by if to == STATE_DOWN else None)


def _unchanged(current: HealthState, previous: str, now: datetime, integration: str
               ) -> tuple[HealthState, Transition | None]:
    return current, _left_maintenance(previous, current, integration, now)


def _left_maintenance(previous: str, current: HealthState, integration: str, now: datetime) -> Transition | None:
    if previous != STATE_MAINTENANCE:
        return None
    return Transition(integration, now, STATE_MAINTENANCE, current.state, "maintenance window ended")


def is_routable(state: str) -> bool:
    """Whether traffic may go to an integration in ``state`` (its breaker must be closed too)."""
    return state in (STATE_UP, STATE_DEGRADED, STATE_PENDING, STATE_UNKNOWN)
