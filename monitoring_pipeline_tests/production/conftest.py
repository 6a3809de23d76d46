"""The production topology on this machine's PostgreSQL: fresh databases for Dagster's storage and the project, the
emulator as D&B, and `LocalTopology` running init, the code server(s), the webserver, the daemon (and the ops service
when this build has it)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, func, select, text

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.fakes.dnb_emulator import EmulatorServer
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.production.supervisor import LocalTopology
from monitoring_pipeline.production.topology import SINGLE_LOCATION, CodeLocation, Service
from monitoring_pipeline.storage.schema import dnb_landed_notifications
from monitoring_pipeline_tests import dagster_daemon
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET, POSTGRES_ADMIN_URL
from monitoring_pipeline_tests.defs.dnb.pipeline import REGISTRATION_YAML, today
from monitoring_pipeline_tests.defs.test_dagster_instance import DAY_ASSETS, LAUNCH, STATUS, _graphql
from monitoring_pipeline_tests.dnb.ground_truth import delivered_keys
from monitoring_pipeline_tests.waiting import eventually

REFERENCE = "PROD_REF"
PAST_DAY_NOTIFICATIONS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the local server; dropped (its connections ended) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                               {"n": name})
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def terminate_connections(database: str) -> int:
    """End every connection to ``database`` (what a PostgreSQL restart does to its clients); returns how many."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return len(connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> "
                     "pg_backend_pid()"), {"n": database}).all())
    finally:
        admin.dispose()


class QuickBackfillTopology(LocalTopology):
    """The topology with the daemon's backfill loop looking every few seconds instead of Dagster's fixed 30 s
    (monitoring_pipeline_tests/dagster_daemon.py); every command and setting else as in production."""

    def command_of(self, service: Service) -> list[str]:
        argv = super().command_of(service)
        if Path(argv[0]).name == "dagster-daemon":
            return dagster_daemon.command(*argv[1:])
        return argv


@dataclass
class Deployment:
    """A running topology with what the tests look at: the emulator, the Dagster instance, the project database."""

    topology: LocalTopology
    emulator: EmulatorServer
    admin: EmulatorAdmin
    dagster_db: str
    project_db: str
    project_url: str
    data_dir: Path
    past_days: list[date]

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.topology.home))

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return _graphql(self.topology.webserver_url, query, variables)

    def landed_count(self, day: date | None = None) -> int:
        engine = create_engine(self.project_url)
        try:
            query = select(func.count()).select_from(dnb_landed_notifications)
            if day is not None:
                query = query.where(dnb_landed_notifications.c.delivery_day == day)
            with engine.connect() as connection:
                return connection.execute(query).scalar_one()
        finally:
            engine.dispose()

    def landed_keys(self) -> list[str]:
        engine = create_engine(self.project_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(select(dnb_landed_notifications.c.notification_key)).scalars())
        finally:
            engine.dispose()

    def assert_every_delivery_landed_once(self) -> int:
        """The emulator's delivery log is the truth: each notification it handed out is landed exactly once."""
        landed = set(self.landed_keys())  # notification_key is unique: a second landing would be refused
        delivered = set(delivered_keys(self.admin, REFERENCE))
        assert not delivered - landed, f"{len(delivered - landed)} delivered notifications were never landed"
        assert not landed - delivered, f"{len(landed - delivered)} landed notifications were never delivered"
        return len(landed)

    def file_count(self, day: date) -> int:
        """Notifications in the day's JSON files."""
        files = (self.data_dir / f"notifications/{day:%Y/%m/%d}/{REFERENCE}").glob("*.json")
        return sum(json.loads(path.read_text())["metadata"]["notification_count"] for path in files)

    def backfill(self, days: list[date], timeout: float = 300) -> str:
        params = {"partitionNames": [day.isoformat() for day in days],
                  "assetSelection": [{"path": [name]} for name in DAY_ASSETS], "fromFailure": False,
                  "title": f"replay {len(days)} days"}
        launched = self.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched

        def finished() -> str | None:
            status = self.graphql(STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
            return status if status not in ("REQUESTED", "CANCELING", "FAILING") else None

        return eventually(finished, timeout=timeout, interval=1.0)

    def runs(self, statuses: list[dg.DagsterRunStatus] | None = None) -> list[dg.DagsterRun]:
        with self.instance() as instance:
            return list(instance.get_runs(dg.RunsFilter(statuses=statuses) if statuses else None))


def pull_and_lose_past_days(emulator: EmulatorServer, admin: EmulatorAdmin, state_dir: Path) -> list[date]:
    """Three past days, 20 notifications each, pulled from D&B and never landed: only a backfill (replay) gets
    them back. The emulator's clock started three days ago and ends at now."""
    settings = DnbConnectionSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, base_url=emulator.url,
                                     state_dir=state_dir)
    with build_client(settings) as client:
        for _ in range(3):
            admin.generate(REFERENCE, PAST_DAY_NOTIFICATIONS, types={"UPDATE": 1})
            assert sum(len(page) for page in client.drain(REFERENCE)) == PAST_DAY_NOTIFICATIONS
            admin.advance_clock(24 * 3600)
    return [today() - timedelta(days=n) for n in (3, 2, 1)]


@pytest.fixture
def deploy(emulator_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Deployment]]:
    """Start the topology: ``deploy(locations=..., emulator_rate=..., environment=...)``. Stopped, and its
    databases dropped, at the end of the test."""
    started: list[Deployment] = []
    databases: list[Any] = []

    def start(locations: tuple[CodeLocation, ...] = SINGLE_LOCATION, emulator_rate: float = 50.0,
              dnb_rate: float = 45.0, max_run_seconds: int = 3600, environment: dict[str, str] | None = None,
              past_days: bool = True) -> Deployment:
        emulator = emulator_factory(rate_limit_per_second=emulator_rate,
                                    start_offset_seconds=-3 * 24 * 3600 if past_days else 0)
        admin = EmulatorAdmin(emulator.url)
        admin.create_registration(REFERENCE)
        days = pull_and_lose_past_days(emulator, admin, tmp_path / "lost_puller") if past_days else []
        dagster_context, project_context = fresh_database("mp_dagster"), fresh_database("mp_project")
        databases.extend([dagster_context, project_context])
        dagster_db, project_db = dagster_context.__enter__(), project_context.__enter__()
        registrations = tmp_path / "registrations"
        registrations.mkdir(exist_ok=True)
        (registrations / "prod.yaml").write_text(REGISTRATION_YAML.format(reference=REFERENCE))
        project_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{project_db}"
        host_url = POSTGRES_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
        pg_host, pg_port = host_url.split(":") if ":" in host_url else (host_url, "5432")
        env = {
            "PATH": os.environ["PATH"],
            "DAGSTER_PG_HOST": pg_host, "DAGSTER_PG_PORT": pg_port, "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": dagster_db,
            "DATABASE_URL": project_url,
            "DNB_BASE_URL": emulator.url, "DNB_CLIENT_ID": CLIENT_ID, "DNB_CLIENT_SECRET": CLIENT_SECRET,
            "DNB_RATE_LIMIT_PER_SECOND": str(dnb_rate),
            "DNB_SENSOR_INTERVAL_SECONDS": "5", "DNB_RUN_INTERVAL_SECONDS": "0",
            "MONITORING_PIPELINE_HOME": str(tmp_path / "mp_home"),
            "MONITORING_PIPELINE_DATA_DIR": str(tmp_path / "data"),
            "MONITORING_PIPELINE_REGISTRATIONS_DIR": str(registrations),
            **(environment or {}),
        }
        for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
                     "DAGSTER_PG_DB"):
            monkeypatch.setenv(name, env[name])  # the test's own DagsterInstance reads the same storage
        topology = QuickBackfillTopology(
            home=tmp_path / "dagster_home", environment=env, locations=locations,
            webserver_port=free_port(), ops_port=free_port(),
            code_server_ports={location.name: free_port() for location in locations},
            max_run_seconds=max_run_seconds, announce=lambda line: None,
        )
        deployment = Deployment(topology, emulator, admin, dagster_db, project_db, project_url, tmp_path / "data",
                                days)
        started.append(deployment)
        topology.start()
        return deployment

    yield start
    for deployment in started:
        deployment.topology.stop()
        deployment.admin.close()
    for context in reversed(databases):
        context.__exit__(None, None, None)


def integrations_file(path: Path, sandbox_url: str, names: list[str]) -> Path:
    """A small integrations file probing ``names`` on the sandbox every 5 s, DOWN after one failure."""
    path.write_text(yaml.safe_dump({
        "defaults": {"interval": "5s", "timeout": "2s", "retries": {"attempts": 0}, "thresholds": {"failure": 1}},
        "integrations": [{"name": name, "category": "payments", "url": f"{sandbox_url}/{name}"} for name in names],
    }))
    return path
