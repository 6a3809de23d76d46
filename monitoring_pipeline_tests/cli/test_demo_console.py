"""What the demo's console shows of Dagster: one line when a run starts and one when it ends, the project's own
lines and every warning, never the DEBUG event stream (which stays in the event log, for the UI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from monitoring_pipeline.cli.demo_console import RunNarrator, run_lines
from monitoring_pipeline_tests.processes import REPO
from monitoring_pipeline_tests.waiting import eventually

UI = "http://127.0.0.1:3000"
DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")


@dg.asset(partitions_def=DAYS)
def notification_files() -> None:
    """A stand-in for a day asset."""


@dg.asset(partitions_def=DAYS, deps=[notification_files])
def notifications_table() -> None:
    """Another."""


@dg.asset
def broken() -> None:
    raise RuntimeError("the destination refused the upload")


@pytest.fixture
def instance(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def launch(instance: dg.DagsterInstance, assets: list, **options) -> None:
    """A run of ``assets`` as Dagster's asset job launches it (with its asset selection, as sensors do)."""
    job = dg.Definitions(assets=assets).resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, asset_selection=[a.key for a in assets], raise_on_error=False,
                           **options)


def records_of(instance: dg.DagsterInstance) -> list:
    return list(instance.get_run_records(order_by="update_timestamp", ascending=True))


def test_a_run_is_told_when_it_starts_and_when_it_ends(instance):
    launch(instance, [notification_files, notifications_table], partition_key="2026-11-20",
           tags={"dagster/sensor_name": "dnb_landing_sensor"})
    launch(instance, [broken])
    told: dict[str, set[str]] = {}
    good, bad = (run_lines(record, told, UI) for record in records_of(instance))
    run_id = records_of(instance)[0].dagster_run.run_id
    assert good[0].endswith(f" - runs - run {run_id[:8]} started: notification_files, notifications_table "
                            f"[2026-11-20] (dnb_landing_sensor)")
    assert " - runs - run " in good[1] and " succeeded after " in good[1] and good[1].endswith(" s")
    assert bad[0].endswith("started: broken (launched in the UI)")
    failed_id = records_of(instance)[1].dagster_run.run_id
    assert f"run {failed_id[:8]} FAILED after " in bad[1] and bad[1].endswith(f": {UI}/runs/{failed_id}")
    # Each is told once.
    assert [run_lines(record, told, UI) for record in records_of(instance)] == [[], []]


def test_the_narrator_tells_the_runs_of_this_demo_not_those_of_earlier_ones(instance):
    launch(instance, [broken])  # an earlier demo's
    earlier = records_of(instance)[0].dagster_run.run_id[:8]
    lines: list[str] = []
    narrator = RunNarrator(Path(instance.root_directory), UI, since=datetime.now(UTC), echo=lines.append,
                           poll_seconds=0.1)
    narrator.start()
    try:
        launch(instance, [notification_files], partition_key="2026-11-21", tags={"dagster/schedule_name": "daily"})
        latest = records_of(instance)[-1].dagster_run.run_id[:8]
        assert eventually(lambda: len(lines) >= 2, timeout=20)
    finally:
        narrator.stop()
        narrator.join(10)
    assert [line.split(" - runs - ")[1].split(":")[0].split(" after")[0] for line in lines] == [
        f"run {latest} started", f"run {latest} succeeded"]
    assert "[2026-11-21] (daily)" in lines[0] and not any(earlier in line for line in lines)


SCRIPT = textwrap.dedent("""
    import logging
    import dagster as dg

    @dg.asset
    def landed(context):
        context.log.info("landed 37 notifications from DEMO_STD")
        logging.getLogger("monitoring_pipeline.dnb.client").warning("D&B GET /x failed (attempt 1): 503; retrying")
        logging.getLogger("monitoring_pipeline.dnb.client").debug("a detail nobody watching needs")

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([landed], instance=instance)
        print("RUN", result.run_id)
""")


def test_the_console_shows_what_happens_and_the_ui_keeps_every_event(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    console = done.stdout + done.stderr
    assert " - DEBUG - " not in console  # no STEP_START, STEP_OUTPUT, ASSET_MATERIALIZATION, ... on the console
    assert "landed 37 notifications from DEMO_STD" in console
    assert "D&B GET /x failed (attempt 1): 503; retrying" in console  # the project's own warnings
    assert "a detail nobody watching needs" not in console
    run_id = done.stdout.split("RUN ")[1].strip()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        logs = instance.all_logs(run_id)
    kinds = {entry.dagster_event.event_type for entry in logs if entry.dagster_event}
    shown_in_the_ui = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_OUTPUT,
                       dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.RUN_SUCCESS}
    assert shown_in_the_ui <= kinds  # the DEBUG events are all in the event log
    messages = [entry.user_message for entry in logs]
    assert any("D&B GET /x failed" in message for message in messages)  # and the module's warning, in the run
