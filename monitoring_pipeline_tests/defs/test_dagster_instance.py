"""A real Dagster deployment (webserver + daemon in a temporary DAGSTER_HOME) driven over GraphQL.

Three past days were pulled from D&B but never landed; a three-day backfill launched with
``launchPartitionBackfill`` must replay them and leave every day's files on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline_tests import dagster_daemon
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.defs.dnb.pipeline import REGISTRATION_YAML, today
from monitoring_pipeline_tests.waiting import eventually

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY_ASSETS = ["dnb_notifications", "notification_files", "notifications_table", "company_changes",
              "notification_metrics"]
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } }
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def past_days_pulled_but_never_landed(emulator_factory, tmp_path):
    """An emulator whose clock started three days ago; each day 20 notifications were pulled and lost."""
    emulator = emulator_factory(rate_limit_per_second=50, start_offset_seconds=-3 * 24 * 3600)
    from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin

    admin = EmulatorAdmin(emulator.url)
    admin.create_registration("GQL_REF")
    settings = DnbConnectionSettings(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=emulator.url, state_dir=tmp_path / "puller"
    )
    with build_client(settings) as client:
        for _ in range(3):
            admin.generate("GQL_REF", 20, types={"UPDATE": 1})
            assert sum(len(page) for page in client.drain("GQL_REF")) == 20
            admin.advance_clock(24 * 3600)
    days = [today() - timedelta(days=n) for n in (3, 2, 1)]
    return emulator, days


@pytest.fixture
def dagster_deployment(past_days_pulled_but_never_landed, tmp_path):
    emulator, days = past_days_pulled_but_never_landed
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    registrations = tmp_path / "registrations"
    registrations.mkdir()
    (registrations / "gql.yaml").write_text(REGISTRATION_YAML.format(reference="GQL_REF"))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DNB_BASE_URL": emulator.url,
        "DNB_CLIENT_ID": CLIENT_ID,
        "DNB_CLIENT_SECRET": CLIENT_SECRET,
        "DNB_RATE_LIMIT_PER_SECOND": "45",
        "MONITORING_PIPELINE_HOME": str(tmp_path / "mp_home"),
        "MONITORING_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "MONITORING_PIPELINE_REGISTRATIONS_DIR": str(registrations),
    }
    env.pop("DATABASE_URL", None)
    port = _free_port()
    module = ["-m", "monitoring_pipeline.definitions"]
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen([str(bin_dir / "dagster-webserver"), *module, "-h", "127.0.0.1", "-p", str(port)],
                         env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(dagster_daemon.command("run", *module),
                         env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        ready = eventually(lambda: httpx.get(url + "/server_info", timeout=2).status_code == 200, 120, 1.0,
                           ignore=(httpx.TransportError,))
        assert ready, "the webserver did not start within 120 s"
        yield url, days, tmp_path / "data"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _graphql(url: str, query: str, variables: dict) -> dict:
    response = httpx.post(url + "/graphql", json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, json.dumps(body["errors"])
    return body["data"]


@pytest.mark.slow
def test_a_three_day_backfill_launched_over_graphql_replays_the_days_into_files(dagster_deployment):
    url, days, data_dir = dagster_deployment
    params = {
        "partitionNames": [day.isoformat() for day in days],
        "assetSelection": [{"path": [name]} for name in DAY_ASSETS],
        "fromFailure": False,
        "title": "replay three days",
    }
    launched = _graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished():
        status = _graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "CANCELING", "FAILING") else None

    assert eventually(finished, timeout=300, interval=1.0) in ("COMPLETED", "COMPLETED_SUCCESS")
    for day in days:
        files = sorted((data_dir / f"notifications/{day:%Y/%m/%d}/GQL_REF").glob("*.json"))
        assert files, f"no files for {day}"
        count = sum(json.loads(path.read_text())["metadata"]["notification_count"] for path in files)
        assert count == 20
