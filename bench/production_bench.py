"""The production topology on this machine (PostgreSQL, code server, webserver, daemon; runs through the queue):

1. latency: notifications made available by D&B (the emulator) -> pulled by the landing sensor -> in the day's files;
2. run launch overhead: a trivial one-op run, queued -> started -> success (Dagster's own event timestamps);
3. load: a backlog of N notifications at D&B's budget, until all are landed and all are in files.

    .venv/bin/python bench/production_bench.py [--notifications 20000] [--rate 5] [--rounds 3]

Sensor and run intervals are the fast ones of the tests (DNB_SENSOR_INTERVAL_SECONDS=5, DNB_RUN_INTERVAL_SECONDS=0);
with the defaults (30 s, 300 s) add up to 30 s and 300 s to the latency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import KEY, SECRET, emulator_process, throwaway_database  # noqa: E402

from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin  # noqa: E402
from monitoring_pipeline.httpserver import free_port  # noqa: E402
from monitoring_pipeline.production.supervisor import LocalTopology  # noqa: E402
from monitoring_pipeline.storage.schema import dnb_landed_notifications  # noqa: E402

REFERENCE = "BENCH_PROD"
REGISTRATION = """\
reference: BENCH_PROD
description: production benchmark
productId: cmpelk
versionId: v2
notificationType: UPDATE
seedData: false
deliveryTrigger: API_PULL
portfolio: ["804735132"]
"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
TRIVIAL_JOB = "integration_probe_retention_job"  # one op; with no probe results it prunes nothing


def wait_for(predicate, timeout: float, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"not within {timeout:.0f}s")


def file_count(data_dir: Path) -> int:
    day = datetime.now(UTC).date()
    files = (data_dir / f"notifications/{day:%Y/%m/%d}/{REFERENCE}").glob("*.json")
    return sum(json.loads(path.read_text())["metadata"]["notification_count"] for path in files)


def landed(project_url: str) -> int:
    engine = create_engine(project_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(dnb_landed_notifications)).scalar_one()
    finally:
        engine.dispose()


def measure_latency(admin: EmulatorAdmin, data_dir: Path, rounds: int) -> None:
    to_pull, to_files = [], []
    for _ in range(rounds):
        before_files, before_deliveries = file_count(data_dir), len(admin.deliveries(reference=REFERENCE))
        admin.generate(REFERENCE, 50, types={"UPDATE": 1})
        start = time.monotonic()
        wait_for(lambda b=before_deliveries: len(admin.deliveries(reference=REFERENCE)) >= b + 50, 120)
        pulled = time.monotonic()
        wait_for(lambda b=before_files: file_count(data_dir) >= b + 50, 600)
        done = time.monotonic()
        to_pull.append(pulled - start)
        to_files.append(done - pulled)
        time.sleep(2)
    print(f"latency ({rounds} rounds of 50): available -> pulled median {statistics.median(to_pull):.1f}s; "
          f"pulled -> in files median {statistics.median(to_files):.1f}s (max {max(to_files):.1f}s); "
          f"end to end median {statistics.median(a + b for a, b in zip(to_pull, to_files, strict=True)):.1f}s")


def measure_launch_overhead(topology: LocalTopology, runs: int) -> None:
    params = {"selector": {"repositoryLocationName": "monitoring_pipeline", "repositoryName": "__repository__",
                           "jobName": TRIVIAL_JOB}, "runConfigData": {}}
    phases: dict[str, list[float]] = {"queued -> started": [], "started -> success": [], "queued -> success": []}
    with dg.DagsterInstance.from_config(str(topology.home)) as instance:
        for _ in range(runs):
            response = httpx.post(topology.webserver_url + "/graphql", timeout=60,
                                  json={"query": LAUNCH_RUN, "variables": {"params": params}}).json()
            result = response["data"]["launchRun"]
            assert result["__typename"] == "LaunchRunSuccess", result
            run_id = result["run"]["runId"]
            record = wait_for(lambda r=run_id: _finished(instance, r), 300)
            assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS, record.dagster_run.status
            queued, started, ended = record.create_timestamp.timestamp(), record.start_time, record.end_time
            phases["queued -> started"].append(started - queued)
            phases["started -> success"].append(ended - started)
            phases["queued -> success"].append(ended - queued)
    print(f"run launch overhead ({runs} trivial runs, median): "
          + "; ".join(f"{name} {statistics.median(values):.1f}s" for name, values in phases.items()))


def _finished(instance: dg.DagsterInstance, run_id: str):  # type: ignore[no-untyped-def]
    record = instance.get_run_record_by_id(run_id)
    return record if record and record.dagster_run.is_finished else None


def measure_load(admin: EmulatorAdmin, project_url: str, data_dir: Path, notifications: int, rate: float) -> None:
    before_landed, before_files = landed(project_url), file_count(data_dir)
    admin.generate(REFERENCE, notifications, types={"UPDATE": 1})
    start = time.monotonic()
    wait_for(lambda: landed(project_url) >= before_landed + notifications, 3600, 1.0)
    all_landed = time.monotonic() - start
    wait_for(lambda: file_count(data_dir) >= before_files + notifications, 3600, 1.0)
    all_files = time.monotonic() - start
    stats = admin.stats()
    print(f"load: {notifications:,} notifications at {rate:g} calls/s: all landed in {all_landed:.1f}s "
          f"({notifications / all_landed:,.0f}/s), all in files in {all_files:.1f}s; "
          f"429s {stats['responses_429']}, busiest second {max(stats['max_calls_in_any_second'].values())} calls")


def print_stages(project_url: str) -> None:
    """The stages of notifications_processing_duration_seconds (the ops service's histogram) over everything the
    benchmark landed: D&B's delivery timestamp -> landed, landed -> in its day's files."""
    engine = create_engine(project_url)
    t = dnb_landed_notifications.c

    def all_marked() -> bool:  # the files appear just before the run marks their notifications
        with engine.connect() as connection:
            return connection.execute(select(func.count()).where(t.materialized_at.is_(None))).scalar_one() == 0

    try:
        wait_for(all_marked, 300, 1.0)
        with engine.connect() as connection:
            figures = []
            for name, later, earlier in (("delivery -> landed", t.landed_at, t.delivery_ts),
                                         ("landed -> in files", t.materialized_at, t.landed_at)):
                seconds = func.extract("epoch", later - earlier)
                p50, p95, worst = connection.execute(select(
                    func.percentile_cont(0.5).within_group(seconds), func.percentile_cont(0.95).within_group(seconds),
                    func.max(seconds)).where(later.is_not(None))).one()
                figures.append(f"{name} p50 {p50:.1f}s, p95 {p95:.1f}s, max {worst:.1f}s")
    finally:
        engine.dispose()
    print("stages (notifications_processing_duration_seconds, every notification): " + "; ".join(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=5.0, help="the emulator's (D&B's) calls per second")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(args.rate) as emulator_url, \
            throwaway_database() as dagster_url, throwaway_database() as project_url, \
            EmulatorAdmin(emulator_url) as admin:
        work = Path(tmp)
        (work / "registrations").mkdir()
        (work / "registrations/bench.yaml").write_text(REGISTRATION)
        (work / "integrations.yaml").write_text("integrations: []\n")
        admin.create_registration(REFERENCE)
        env = {
            "PATH": os.environ["PATH"], "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432",
            "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": dagster_url.rsplit("/", 1)[1],
            "DATABASE_URL": project_url, "DNB_BASE_URL": emulator_url, "DNB_CLIENT_ID": KEY,
            "DNB_CLIENT_SECRET": SECRET, "DNB_RATE_LIMIT_PER_SECOND": str(args.rate),
            "DNB_SENSOR_INTERVAL_SECONDS": "5", "DNB_RUN_INTERVAL_SECONDS": "0",
            "MONITORING_PIPELINE_HOME": str(work / "home"), "MONITORING_PIPELINE_DATA_DIR": str(work / "data"),
            "MONITORING_PIPELINE_REGISTRATIONS_DIR": str(work / "registrations"),
            "INTEGRATIONS_CONFIG": str(work / "integrations.yaml"),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
        topology = LocalTopology(home=work / "dagster_home", environment=env, webserver_port=free_port(),
                                 ops_port=free_port(), code_server_ports={"monitoring_pipeline": free_port()},
                                 announce=lambda line: None)
        started = time.monotonic()
        with topology:
            print(f"topology up in {time.monotonic() - started:.1f}s (init, code server, webserver, daemon, ops)")
            measure_latency(admin, work / "data", args.rounds)
            measure_launch_overhead(topology, args.rounds + 2)
            measure_load(admin, project_url, work / "data", args.notifications, args.rate)
            print_stages(project_url)


if __name__ == "__main__":
    main()
