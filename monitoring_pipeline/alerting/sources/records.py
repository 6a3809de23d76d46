"""Plain records the Dagster glue collects from the instance and hands to the engine (no Dagster types here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CheckEvaluation:
    """The latest evaluation of one asset check."""

    asset: str  # the asset key as a path, "integrations/stripe"
    check_name: str
    passed: bool
    severity: str  # WARN | ERROR
    at: datetime
    record_id: int  # grows with every evaluation of the check: the engine remembers the last one it saw
    description: str = ""
    run_id: str | None = None
    status: str = "SUCCEEDED"  # SUCCEEDED | FAILED | EXECUTION_FAILED (the check itself raised)


@dataclass(frozen=True)
class TickState:
    """The latest tick of a sensor or schedule."""

    instigator: str
    instigator_type: str  # sensor | schedule
    tick_id: int
    status: str  # SUCCESS | FAILURE | SKIPPED | STARTED
    at: datetime
    error: str = ""


@dataclass(frozen=True)
class RunOutcome:
    """A finished run of a job: failed (from the run-failure sensor) or succeeded."""

    job: str
    run_id: str
    succeeded: bool
    at: datetime
    error: str = ""


@dataclass
class DagsterInputs:
    checks: list[CheckEvaluation] = field(default_factory=list)
    ticks: list[TickState] | None = None  # None: not collected this time (nothing is concluded about ticks)
    runs: list[RunOutcome] = field(default_factory=list)  # successes of jobs with an open run alert
