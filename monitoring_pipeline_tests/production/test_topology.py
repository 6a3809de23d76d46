"""The production topology as processes on PostgreSQL: notifications land, runs go through the queue and succeed,
a three-day backfill replays lost days, logs are JSON lines without secrets."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from monitoring_pipeline_tests.conftest import CLIENT_SECRET
from monitoring_pipeline_tests.defs.dnb.pipeline import today
from monitoring_pipeline_tests.production.conftest import PAST_DAY_NOTIFICATIONS, REFERENCE
from monitoring_pipeline_tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def test_notifications_land_runs_queue_and_a_backfill_replays_three_days(deploy):
    deployment = deploy()
    with deployment.instance() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.event_log_storage.get_concurrency_info("dnb_api").slot_count == 2  # set by prod-init

    # The landing sensor (in the code server, ticked by the daemon) lands today's notifications and requests a run.
    deployment.admin.generate(REFERENCE, 30, types={"UPDATE": 1})
    assert eventually(lambda: deployment.file_count(today()) == 30, timeout=180, interval=1.0), \
        f"today's files hold {deployment.file_count(today())} of 30 notifications"
    landing_runs = deployment.runs([dg.DagsterRunStatus.SUCCESS])
    assert landing_runs, "no run succeeded"
    with deployment.instance() as instance:
        enqueued = instance.get_records_for_run(landing_runs[-1].run_id,
                                                of_type=dg.DagsterEventType.RUN_ENQUEUED).records
    assert enqueued, "the run did not go through the run queue"

    # Three days pulled but never landed come back through a backfill, each day its own run through the queue.
    assert deployment.backfill(deployment.past_days) in ("COMPLETED", "COMPLETED_SUCCESS")
    for day in deployment.past_days:
        assert deployment.file_count(day) == PAST_DAY_NOTIFICATIONS, day
    deployment.assert_every_delivery_landed_once()

    # Every process writes JSON lines; runs write the project's logs as JSON with their run and step; no secret.
    logs = {name: (deployment.topology.log_dir / f"{name}.log").read_text() for name in
            ("code-server", "webserver", "daemon")}
    for name, text in logs.items():
        assert _json_lines(text), f"{name} wrote no JSON line"
        assert CLIENT_SECRET not in text, f"{name}'s log holds the D&B secret"
    in_runs = [line for line in _json_lines(logs["code-server"]) if line.get("run_id") and line.get("step")]
    assert in_runs, "no JSON line from inside a run"
    assert {"timestamp", "level", "logger", "message"} <= set(in_runs[0])
