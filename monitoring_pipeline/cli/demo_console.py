"""What the demo's console says of Dagster: that the UI is up, and each run as it starts and ends.

The rest of the console is Dagster's, turned down to what a person watching wants: `dagster dev --log-level
warning` keeps the daemons' routine lines (sensor checks, run launches) off it, and dagster.yaml's
``python_logs.python_log_level: INFO`` keeps each run's DEBUG event stream in the UI only. What remains are the
project's own lines (landed N, state changes, failovers) and every warning and error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import httpx

TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # as Dagster's own console lines
POLL_SECONDS = 2.0
MAX_ASSETS_NAMED = 3
UPDATE_MARGIN = timedelta(seconds=5)  # clocks of the processes writing run updates may differ a little


def wait_for_ui(url: str, process_alive: Callable[[], bool], timeout: float = 300.0) -> bool:
    """Wait until the Dagster webserver at ``url`` answers; False if dagster dev ended or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive():
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def describe_run(record: Any) -> str:
    """``dnb_notifications, notification_files +3 more [2026-12-04] (dnb_landing_sensor)`` of a Dagster RunRecord."""
    run = record.dagster_run
    names = sorted(key.to_user_string() for key in run.asset_selection or ())
    names += sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in run.asset_check_selection or ()
                    if not run.asset_selection)
    what = ", ".join(names[:MAX_ASSETS_NAMED]) + (f" +{len(names) - MAX_ASSETS_NAMED} more"
                                                  if len(names) > MAX_ASSETS_NAMED else "")
    if not what or not run.job_name.startswith("__"):
        what = run.job_name + (f": {what}" if what else "")
    tags = run.tags
    partition = tags.get("dagster/partition")
    trigger = tags.get("dagster/sensor_name") or tags.get("dagster/schedule_name") or (
        "backfill" if tags.get("dagster/backfill") else "launched in the UI")
    return what + (f" [{partition}]" if partition else "") + f" ({trigger})"


def run_lines(record: Any, told: dict[str, set[str]], ui_url: str) -> list[str]:
    """The lines not yet said (``told``, per run id) about one run: started, then succeeded, failed or canceled."""
    from dagster import DagsterRunStatus

    run = record.dagster_run
    said = told.setdefault(run.run_id, set())
    lines = []
    short = run.run_id[:8]
    if record.start_time is not None and "started" not in said:
        said.add("started")
        lines.append(f"{_at(record.start_time)} - runs - run {short} started: {describe_run(record)}")
    ended = {DagsterRunStatus.SUCCESS: "succeeded", DagsterRunStatus.FAILURE: "FAILED",
             DagsterRunStatus.CANCELED: "was canceled"}.get(run.status)
    if ended and "ended" not in said:
        said.add("ended")
        end = record.end_time or time.time()
        took = f" after {end - record.start_time:.0f} s" if record.start_time else ""
        detail = f": {ui_url}/runs/{run.run_id}" if run.status != DagsterRunStatus.SUCCESS else ""
        lines.append(f"{_at(end)} - runs - run {short} {ended}{took}{detail}")
    return lines


class RunNarrator(threading.Thread):
    """Says on the console when a run of the demo's Dagster instance starts and how it ends."""

    def __init__(self, dagster_home: Path, ui_url: str, since: datetime, echo: Callable[[str], None] = click.echo,
                 poll_seconds: float = POLL_SECONDS) -> None:
        """``since``: runs created earlier (by an earlier demo) are history, not news."""
        super().__init__(name="demo-run-narrator", daemon=True)
        self.dagster_home = dagster_home
        self.since = since
        self.ui_url = ui_url
        self.echo = echo
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        from dagster import DagsterInstance, RunsFilter

        try:
            instance = DagsterInstance.from_config(str(self.dagster_home))
        except Exception as error:  # noqa: BLE001 - the demo goes on without the run lines
            self.echo(f"(run lines are off: {type(error).__name__}: {error})")
            return
        told: dict[str, set[str]] = {}
        updated_after = self.since
        with instance:
            while not self._stopping.wait(self.poll_seconds):
                try:
                    records = instance.get_run_records(
                        filters=RunsFilter(created_after=self.since, updated_after=updated_after - UPDATE_MARGIN),
                        order_by="update_timestamp", ascending=True, limit=200)
                except Exception:  # noqa: BLE001 - a busy SQLite file: try again at the next poll
                    continue
                for record in records:
                    updated_after = max(updated_after, record.update_timestamp)
                    for line in run_lines(record, told, self.ui_url):
                        self.echo(line)


def _at(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime(TIME_FORMAT)
