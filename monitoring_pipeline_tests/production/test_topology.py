"""The production topology as processes on PostgreSQL, split in two code locations (D&B, integration health) on one
instance: notifications land, runs go through the queue and succeed, a three-day backfill replays lost days, the
landing sensor and the backfill runs share D&B's real 5 calls/s without a 429, the integrations location probes
into the shared database, logs are JSON lines without secrets, and the image's health check answers.

(The single-location topology, compose's default, is the one test_topology_faults.py kills and restarts.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, select

from monitoring_pipeline.production.topology import SPLIT_LOCATIONS, CodeLocation
from monitoring_pipeline.storage.schema import integration_states
from monitoring_pipeline_tests.conftest import CLIENT_SECRET
from monitoring_pipeline_tests.defs.dnb.pipeline import today
from monitoring_pipeline_tests.production.conftest import PAST_DAY_NOTIFICATIONS, REFERENCE, integrations_file
from monitoring_pipeline_tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]
DNB_BUDGET = 5.0  # calls per second: D&B's default for a key
LIVE = 1500  # today's notifications: 15 Pulls, landed while the backfill replays


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


def _health(topology, name: str, port: int | None) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, as a container of service ``name`` runs it."""
    env = {**topology.environment_of(topology.services[name]), "MONITORING_PIPELINE_SERVICE": name}
    return subprocess.run([str(Path(sys.executable).parent / "monitoring-pipeline"), "prod-health",
                           *(["--port", str(port)] if port else [])], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_two_code_locations_land_queue_backfill_and_share_one_dnb_budget(deploy, sandbox, sandbox_admin, tmp_path):
    sandbox_admin.put_endpoint("stripe", latency_ms=[1, 20])
    sandbox_admin.put_endpoint("paypal", status=503)
    probes = integrations_file(tmp_path / "integrations.yaml", sandbox.url, ["stripe", "paypal"])
    dnb, integrations = SPLIT_LOCATIONS
    locations = (dnb, CodeLocation(integrations.name, integrations.module, integrations.attribute,
                                   environment={"INTEGRATIONS_CONFIG": str(probes)}))
    deployment = deploy(locations=locations, emulator_rate=DNB_BUDGET, dnb_rate=DNB_BUDGET)
    with deployment.instance() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.event_log_storage.get_concurrency_info("dnb_api").slot_count == 2  # set by prod-init

    # The landing sensor (in the dnb code server, ticked by the daemon) drains today's backlog while three days
    # pulled but never landed come back through a backfill: every run through the queue, one D&B budget for all.
    deployment.admin.generate(REFERENCE, LIVE, types={"UPDATE": 1})
    assert deployment.backfill(deployment.past_days) in ("COMPLETED", "COMPLETED_SUCCESS")
    assert eventually(lambda: deployment.file_count(today()) == LIVE, timeout=240, interval=1.0), \
        f"today's files hold {deployment.file_count(today())} of {LIVE} notifications"
    for day in deployment.past_days:
        assert deployment.file_count(day) == PAST_DAY_NOTIFICATIONS, day
    deployment.assert_every_delivery_landed_once()
    stats = deployment.admin.stats()
    assert stats["responses_429"] == 0, stats
    assert max(stats["max_calls_in_any_second"].values()) <= DNB_BUDGET, stats
    succeeded = deployment.runs([dg.DagsterRunStatus.SUCCESS])
    assert {run.remote_job_origin.location_name for run in succeeded} == {"dnb"}
    with deployment.instance() as instance:
        assert all(instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED).records
                   for run in succeeded), "a run did not go through the run queue"

    # The integrations location probes from its own code server into the same project database.
    engine = create_engine(deployment.project_url)
    try:
        def states() -> dict[str, str]:
            with engine.connect() as connection:
                return dict(connection.execute(
                    select(integration_states.c.integration, integration_states.c.state)).all())

        assert eventually(lambda: states() == {"stripe": "UP", "paypal": "DOWN"}, timeout=120, interval=1.0), \
            states()
    finally:
        engine.dispose()

    # Every process writes JSON lines; runs write the project's logs as JSON with their run and step; no secret.
    topology = deployment.topology
    logs = {name: (topology.log_dir / f"{name}.log").read_text() for name in topology.processes}
    for name, text in logs.items():
        assert _json_lines(text), f"{name} wrote no JSON line"
        assert CLIENT_SECRET not in text, f"{name}'s log holds the D&B secret"
    in_runs = [line for line in _json_lines(logs["code-server-dnb"]) if line.get("run_id") and line.get("step")]
    assert in_runs, "no JSON line from inside a run"
    assert {"timestamp", "level", "logger", "message"} <= set(in_runs[0])

    # The image's HEALTHCHECK (`monitoring-pipeline prod-health`) passes for every running service, fails for a
    # stopped one.
    ports = {"code-server-dnb": topology.code_server_ports["dnb"],
             "code-server-integrations": topology.code_server_ports["integrations"],
             "webserver": topology.webserver_port, "daemon": None}
    for name, port in ports.items():
        check = _health(topology, name, port)
        assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"
    topology.stop_service("webserver")
    assert _health(topology, "webserver", topology.webserver_port).returncode != 0
