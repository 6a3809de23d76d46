"""What the Dagster UI is told about each integration: figures per reporting window and verdicts on change.

Observations go out at most once per integration per reporting window, plus whenever its state changes, so
the event volume stays flat however often probes run. Figures use the same keys every time so they plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitoring_pipeline.integrations.runner import DEGRADED, FAILED, SKIPPED, UP
from monitoring_pipeline.integrations.sla import AVAILABLE_STATES, percentile
from monitoring_pipeline.integrations.state import (
    STATE_CODES,
    STATE_DEGRADED,
    STATE_DOWN,
    STATE_MAINTENANCE,
    STATE_PENDING,
    STATE_UNKNOWN,
    STATE_UP,
)
from monitoring_pipeline.integrations.store import WindowSample

SAMPLE_SCORE = {UP: 100.0, DEGRADED: 50.0, FAILED: 0.0, SKIPPED: 0.0}
_STATE_SCORE = {STATE_UP: 100.0, STATE_DEGRADED: 50.0, STATE_PENDING: 50.0, STATE_DOWN: 0.0,
                STATE_MAINTENANCE: 100.0, STATE_UNKNOWN: 0.0}


@dataclass(frozen=True)
class WindowFigures:
    """Numbers for one integration over the reporting window (all keys always present)."""

    state: str
    probes: int
    failures: int
    latency_p50_ms: float
    latency_p95_ms: float
    availability: float  # share of probes (maintenance excluded) that found it available, 0..1
    health_score: float  # 0..100: fast 100, slow 50, failed 0 per probe, averaged

    def as_metadata(self) -> dict[str, float | int | str]:
        return {
            "state": self.state,
            "state_code": STATE_CODES[self.state],
            "probes": self.probes,
            "failures": self.failures,
            "latency_p50_ms": round(self.latency_p50_ms, 1),
            "latency_p95_ms": round(self.latency_p95_ms, 1),
            "availability": round(self.availability, 4),
            "health_score": round(self.health_score, 1),
        }


def window_figures(state: str, samples: Sequence[WindowSample]) -> WindowFigures:
    """Figures from the window's probe results; without any, from the current state alone."""
    counted = [s for s in samples if s.state != STATE_MAINTENANCE]
    latencies = [s.latency_ms for s in counted if s.latency_ms is not None and s.outcome != FAILED]
    if counted:
        available = sum(1 for s in counted if s.state in AVAILABLE_STATES) / len(counted)
        score = sum(SAMPLE_SCORE[s.outcome] for s in counted) / len(counted)
    else:
        available = 1.0 if state in (*AVAILABLE_STATES, STATE_MAINTENANCE) else 0.0
        score = _STATE_SCORE[state]
    return WindowFigures(
        state=state,
        probes=sum(1 for s in samples if s.outcome != SKIPPED),
        failures=sum(1 for s in samples if s.outcome == FAILED),
        latency_p50_ms=percentile(latencies, 50) or 0.0,
        latency_p95_ms=percentile(latencies, 95) or 0.0,
        availability=available,
        health_score=score,
    )


def report_due(last_reported_at: datetime | None, now: datetime, every_seconds: float) -> bool:
    return last_reported_at is None or now - last_reported_at >= timedelta(seconds=every_seconds)


@dataclass(frozen=True)
class Verdict:
    """The ``health_state`` check's result for a state: passed, or the severity of the failure."""

    passed: bool
    severity: str  # WARN | ERROR (only meaningful when not passed)
    note: str


def state_verdict(state: str, explained_by: str | None = None) -> Verdict:
    if state == STATE_UP:
        return Verdict(True, "WARN", "up")
    if state == STATE_MAINTENANCE:
        return Verdict(True, "WARN", "in a maintenance window: planned, not counted against the SLA")
    if state == STATE_DOWN:
        if explained_by:
            return Verdict(False, "WARN", f"down, explained by {explained_by}")
        return Verdict(False, "ERROR", "down")
    if state == STATE_UNKNOWN:
        return Verdict(False, "WARN", "not probed yet")
    return Verdict(False, "WARN", state.lower())
