"""Faults in the running topology: the code server killed (SIGKILL, with its run workers) during a run and
restarted, the daemon restarted, every PostgreSQL connection dropped. Run monitoring fails the orphaned run, the
run-retry policy retries it, the landing sensor resumes, and the emulator's delivery log is met exactly."""

from __future__ import annotations

import dagster as dg
import pytest

from monitoring_pipeline_tests.defs.dnb.pipeline import today
from monitoring_pipeline_tests.production.conftest import REFERENCE, terminate_connections
from monitoring_pipeline_tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]
BATCH = 20
STARTED = [dg.DagsterRunStatus.STARTED]
FIRST_STEP = "dnb_notifications"


def _in_first_step(instance: dg.DagsterInstance) -> str | None:
    """A started day run whose only started step is the first one (dnb_notifications)."""
    for run in instance.get_runs(dg.RunsFilter(statuses=STARTED)):
        if "dagster/partition" not in run.tags:
            continue
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
        if {record.event_log_entry.step_key for record in records} == {FIRST_STEP}:
            return run.run_id
    return None


def _all_files_written(deployment, expected: int) -> None:
    assert eventually(lambda: deployment.file_count(today()) == expected, timeout=240, interval=1.0), \
        f"today's files hold {deployment.file_count(today())} of {expected} notifications"


def test_a_killed_code_server_a_restarted_daemon_and_dropped_connections_lose_nothing(deploy):
    deployment = deploy(past_days=False)
    topology = deployment.topology

    # SIGKILL the code server (and the run it is executing) in the middle of a run's first step, then start it
    # again. (Killed after its last step, a run has nothing left to retry: Dagster then does not retry it.)
    deployment.admin.generate(REFERENCE, BATCH, types={"UPDATE": 1})
    with deployment.instance() as instance:
        killed = eventually(lambda: _in_first_step(instance), timeout=180, interval=0.1)
    assert killed, "no day run started after new notifications landed"
    topology.kill("code-server")
    topology.start_service("code-server")

    def retried() -> dg.DagsterRun | None:
        children = [run for run in deployment.runs() if run.tags.get("dagster/parent_run_id") == killed]
        return next((run for run in children if run.status == dg.DagsterRunStatus.SUCCESS), None)

    assert eventually(retried, timeout=240, interval=1.0), "the killed run was not retried to success"
    with deployment.instance() as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE  # by run monitoring
    _all_files_written(deployment, BATCH)

    # Restart the daemon (sensors and the run queue carry on from their cursors), then drop every connection to
    # both databases while the next run writes, as a PostgreSQL restart or failover does. (Dagster's storage holds
    # no idle connection, NullPool: only those in flight are there to drop.)
    topology.restart("daemon")
    deployment.admin.generate(REFERENCE, BATCH, types={"UPDATE": 1})
    assert eventually(lambda: deployment.runs(STARTED), timeout=180, interval=0.2), "no run started"
    dropped = terminate_connections(deployment.dagster_db) + terminate_connections(deployment.project_db)
    assert dropped > 0
    _all_files_written(deployment, 2 * BATCH)

    assert deployment.assert_every_delivery_landed_once() == 2 * BATCH
    assert deployment.landed_count(today()) == 2 * BATCH
    assert all(process.poll() is None for process in topology.processes.values()), "a process died on the way"
