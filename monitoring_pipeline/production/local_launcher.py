"""The run launcher of the one-machine topology (``monitoring-pipeline prod-local``).

Dagster's default launcher starts each run as a process of the code server, but cannot tell run monitoring whether
that process is still alive (the Docker and Kubernetes launchers can). This one adds that check: the run worker's
pid, recorded by Dagster in the run's RUN_START event, must name a live process. The daemon then fails a run whose
worker died (a killed code server takes its runs with it) within ``run_monitoring.poll_interval_seconds``, and the
run-retry policy retries it. Only for deployments whose daemon and code servers share one machine.

A dead worker's run is failed only once its code server answers again: Dagster creates the retry from the code
server at once, and gives up for good on a retry it could not create, so failing the run while the code server
restarts would lose the retry.
"""

from __future__ import annotations

import os

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus


class LocalProcessRunLauncher(DefaultRunLauncher):
    """Runs as processes of the code server (Dagster's default launcher), with a worker health check for run
    monitoring (the run worker's process must be alive on this machine)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
        event = records[0].event_log_entry.dagster_event if records else None
        if event is None or event.pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run worker has not reported its process yet")
        if _alive(event.pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {event.pid} is alive")
        if not self._code_server_answers(run):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {event.pid} is gone; waiting for "
                                                              "its code server, which will run the retry")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {event.pid} is gone")

    def _code_server_answers(self, run: DagsterRun) -> bool:
        client = self._get_grpc_client_for_termination(run.run_id)  # the code server that launched the run
        if client is None:
            return True
        try:
            client.ping("monitoring")
        except Exception:  # noqa: BLE001 - unreachable, whatever the reason
            return False
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
