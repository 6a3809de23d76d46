"""Shared fixtures: the D&B emulator and the integration sandbox as real HTTP servers, clients against the emulator,
a fresh PostgreSQL database."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

# gRPC's fork handlers (on unless this says otherwise, read when grpc is first imported) can hang a fork() made
# while a gRPC client of the same process has threads: the topology tests start services with preexec_fn (a fork)
# and talk to code servers over gRPC, and one such fork was seen waiting forever with the GIL held.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import pytest  # noqa: E402
from sqlalchemy import Engine, create_engine, text

from monitoring_pipeline.dnb.client import DnbClient
from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorServer
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.fakes.sandbox.admin_client import SandboxAdmin
from monitoring_pipeline.fakes.sandbox.server import SandboxServer
from monitoring_pipeline.storage.database import create_db_engine, migrate
from monitoring_pipeline.storage.schema import metadata


def pytest_configure(config: pytest.Config) -> None:
    # Started in the background (`scripts/test &`, nohup, a CI runner), pytest inherits SIGINT ignored, and so would
    # every process a test starts: Dagster's processes map SIGTERM to SIGINT's handler, so they would ignore the
    # test's SIGTERM and each stop would wait out its timeout (30 s) before SIGKILL. Handled here, SIGINT is reset
    # to its default in the processes the tests start.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


CLIENT_ID = "test-key"
CLIENT_SECRET = "test-secret-do-not-print"
POSTGRES_ADMIN_URL = os.environ.get("MONITORING_PIPELINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with custom configuration; all are stopped at the end of the test."""
    servers: list[EmulatorServer] = []

    def start(**config: Any) -> EmulatorServer:
        settings = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **config}
        server = EmulatorServer(EmulatorConfig(**settings))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# Functional tests run at 10x D&B's budget to stay quick; the budget tests start their own at 5/s.
FAST_RATE_LIMIT = 50.0


@pytest.fixture
def emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    """An emulator behaving like D&B except for a 50 calls/s limit (no Retry-After)."""
    return emulator_factory(rate_limit_per_second=FAST_RATE_LIMIT)


@pytest.fixture
def admin(emulator: EmulatorServer) -> Iterator[EmulatorAdmin]:
    with EmulatorAdmin(emulator.url) as client:
        yield client


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """The integration sandbox: programmable fake third-party endpoints on a free loopback port."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox_admin(sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    with SandboxAdmin(sandbox.url) as client:
        yield client


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def connection_settings(emulator: EmulatorServer, state_dir: Path) -> DnbConnectionSettings:
    """Settings for a client of ``emulator`` with quick backoff so fault tests stay short."""
    return DnbConnectionSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=emulator.url,
        state_dir=state_dir,
        timeout_seconds=5.0,
        initial_backoff_seconds=0.05,
        max_backoff_seconds=0.5,
        max_elapsed_seconds=30.0,
        rate_limit_per_second=FAST_RATE_LIMIT * 0.9,
    )


@pytest.fixture
def make_client(connection_settings: DnbConnectionSettings) -> Iterator[Callable[..., DnbClient]]:
    """Build clients sharing the test's state directory; keyword arguments override settings."""
    clients: list[DnbClient] = []

    def build(**overrides: Any) -> DnbClient:
        client = build_client(replace(connection_settings, **overrides))
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., DnbClient]) -> DnbClient:
    return make_client()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"mp_test_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - the message must say what is missing
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is needed for this test: {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin_engine.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin_engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated project database in a SQLite file (the local default)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'project.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(_pg_engine: Engine) -> Engine:
    """The session's migrated PostgreSQL database, emptied of project data before each test."""
    project_tables = [t for t in metadata.sorted_tables if t.name not in ("dnb_rate_limit", "dnb_token_cache")]
    with _pg_engine.begin() as connection:
        connection.execute(text("TRUNCATE " + ", ".join(t.name for t in project_tables) + " RESTART IDENTITY"))
    return _pg_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The project database on both backends: SQLite (local default) and PostgreSQL (production)."""
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
