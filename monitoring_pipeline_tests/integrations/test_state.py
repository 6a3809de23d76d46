"""The health state machine with an injected clock: thresholds, hysteresis, PENDING, maintenance, dependencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring_pipeline.integrations.config import Thresholds
from monitoring_pipeline.integrations.maintenance import MaintenanceWindow
from monitoring_pipeline.integrations.runner import DEGRADED, FAILED, SKIPPED, UP, ProbeResult
from monitoring_pipeline.integrations.state import HealthState, advance

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
THRESHOLDS = Thresholds(failure=3, success=2)


class Machine:
    """Feeds outcomes one probe interval apart and keeps every transition."""

    def __init__(self, thresholds=THRESHOLDS, windows=(), interval=timedelta(seconds=30)):
        self.state = HealthState()
        self.now = START
        self.transitions = []
        self.thresholds = thresholds
        self.windows = windows
        self.interval = interval

    def feed(self, *outcomes, dependencies=None, latency=100.0):
        for outcome in outcomes:
            result = ProbeResult("api", self.now, outcome, status_code=503 if outcome == FAILED else 200,
                                 latency_ms=latency, error_class="http_status" if outcome == FAILED else None,
                                 error="status == 200 (actual: 503)" if outcome == FAILED else None)
            self.state, transition = advance("api", self.state, result, now=self.now, thresholds=self.thresholds,
                                             windows=self.windows, dependencies=dependencies)
            if transition is not None:
                self.transitions.append(transition)
            self.now += self.interval
        return self.state.state

    def path(self):
        return [(t.from_state, t.to_state) for t in self.transitions]


def test_first_probe_decides_up_or_degraded():
    assert Machine().feed(UP) == "UP"
    assert Machine().feed(DEGRADED) == "DEGRADED"


def test_failures_are_pending_until_the_threshold_then_down():
    machine = Machine()
    machine.feed(UP)
    assert machine.feed(FAILED) == "PENDING"
    assert machine.feed(FAILED) == "PENDING"
    assert machine.feed(FAILED) == "DOWN"
    assert machine.path() == [("UNKNOWN", "UP"), ("UP", "PENDING"), ("PENDING", "DOWN")]
    down = machine.transitions[-1]
    assert down.at == START + 3 * machine.interval
    assert down.cause.startswith("3 consecutive failed probes; last http_status")


def test_a_good_probe_ends_pending_without_reaching_down():
    machine = Machine()
    machine.feed(UP, FAILED, FAILED, UP)
    assert machine.state.state == "UP"
    assert machine.path() == [("UNKNOWN", "UP"), ("UP", "PENDING"), ("PENDING", "UP")]


def test_down_needs_the_success_threshold_to_recover_hysteresis():
    machine = Machine()
    machine.feed(UP, FAILED, FAILED, FAILED)
    assert machine.feed(UP) == "DOWN"  # one good probe is not enough
    assert machine.feed(FAILED) == "DOWN"  # and a failure in between starts the count again
    assert machine.feed(UP) == "DOWN"
    assert machine.feed(UP) == "UP"
    assert machine.transitions[-1].cause.startswith("2 consecutive good probes")


def test_down_recovers_to_degraded_when_the_last_good_probe_was_slow():
    machine = Machine()
    machine.feed(UP, FAILED, FAILED, FAILED, UP, DEGRADED)
    assert machine.state.state == "DEGRADED"


def test_degraded_needs_consecutive_slow_probes_and_fast_ones_to_leave():
    machine = Machine()
    machine.feed(UP, DEGRADED, DEGRADED)
    assert machine.state.state == "UP"  # two slow probes: under the threshold of three
    machine.feed(UP, DEGRADED, DEGRADED, DEGRADED)
    assert machine.state.state == "DEGRADED"
    assert machine.feed(UP) == "DEGRADED"
    assert machine.feed(DEGRADED, UP) == "DEGRADED"  # a slow one restarts the count
    assert machine.feed(UP) == "UP"


def test_pending_returns_to_the_state_it_came_from():
    machine = Machine()
    machine.feed(UP, DEGRADED, DEGRADED, DEGRADED)
    machine.feed(FAILED)
    assert machine.state.state == "PENDING"
    assert machine.feed(DEGRADED) == "DEGRADED"


def test_a_threshold_of_one_goes_down_at_once():
    machine = Machine(Thresholds(failure=1, success=1))
    assert machine.feed(UP, FAILED) == "DOWN"
    assert machine.feed(UP) == "UP"


def test_maintenance_window_overrides_probes_and_starts_afresh_after():
    window = MaintenanceWindow(timedelta(minutes=2), cron="2 12 * * *")  # 12:02-12:04 UTC
    machine = Machine(windows=(window,))
    machine.feed(UP, UP, UP, UP)  # 12:00 .. 12:01:30
    assert machine.feed(FAILED) == "MAINTENANCE"  # 12:02
    assert machine.feed(FAILED, FAILED, FAILED) == "MAINTENANCE"  # failures inside the window don't count
    assert machine.state.failures == 0
    assert machine.feed(FAILED) == "PENDING"  # 12:04: a fresh start, one failure
    assert machine.path()[-2:] == [("UP", "MAINTENANCE"), ("MAINTENANCE", "PENDING")]
    assert "maintenance window" in machine.transitions[-2].cause


def test_a_failure_explained_by_a_down_dependency_names_it():
    machine = Machine()
    machine.feed(UP)
    machine.feed(FAILED, FAILED, FAILED, dependencies={"aws": "DOWN", "segment": "UP"})
    down = machine.transitions[-1]
    assert (down.to_state, down.explained_by) == ("DOWN", "aws")
    assert "explained by aws (DOWN)" in down.cause
    assert machine.state.explained_by == "aws"
    machine.feed(UP, UP)
    assert machine.state.explained_by is None


def test_a_dependency_that_is_up_explains_nothing():
    machine = Machine()
    machine.feed(FAILED, FAILED, FAILED, dependencies={"aws": "UP"})
    assert machine.transitions[-1].explained_by is None


def test_skipped_probes_are_no_evidence():
    machine = Machine()
    machine.feed(UP, FAILED, FAILED, FAILED)
    before = machine.state
    machine.feed(SKIPPED, SKIPPED)
    assert machine.state == before
