"""Helpers shared by the benchmarks: the emulator or sandbox in its own process, a throwaway PostgreSQL database."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, text

from monitoring_pipeline.httpserver import free_port

KEY, SECRET = "bench-key", "bench-secret"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def cli_server_process(
    command: list[str], health_path: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``monitoring-pipeline <command> --port P`` in its own process; yields (base URL, process) once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", *command, "--port", str(port)],
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + health_path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def emulator_process(rate_limit: float) -> Iterator[str]:
    """The emulator in its own process, as D&B is: client and server do not share one interpreter."""
    command = ["emulator", "--client-id", KEY, "--rate-limit", str(rate_limit)]
    with cli_server_process(command, "/_emulator/health", env={"DNB_CLIENT_SECRET": SECRET}) as (url, _):
        yield url


@contextmanager
def throwaway_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database (``bench_<random>``) for one run; dropped afterwards."""
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            # A crashed benchmark can leave connections open; they would block the drop.
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
