"""Fixtures for the sandbox tests: one real server per module on a free port, with a clock the test sets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from monitoring_pipeline.fakes.sandbox import SandboxAdmin, SandboxConfig, SandboxServer

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z: the fake clock's instant at the start of every test
OAUTH_CLIENT_ID = "probe-client"
OAUTH_CLIENT_SECRET = "oauth-secret-do-not-print"


class FakeClock:
    """POSIX seconds chosen by the test: phases and token expiry follow it, not the wall clock."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    """An empty sandbox with one OAuth client; modules override this (module-scoped) fixture."""
    return SandboxConfig(oauth_clients={OAUTH_CLIENT_ID: OAUTH_CLIENT_SECRET}, token_lifetime_seconds=600)


@pytest.fixture(scope="module")
def _module_sandbox(sandbox_config: SandboxConfig, clock: FakeClock) -> Iterator[SandboxServer]:
    # One server per module: starting and stopping uvicorn costs more than most tests.
    with SandboxServer(sandbox_config, clock=clock) as server:
        yield server


@pytest.fixture
def sandbox(_module_sandbox: SandboxServer, clock: FakeClock) -> SandboxServer:
    """A running sandbox, emptied (no endpoints, counters or tokens), its clock back at ``START``."""
    clock.now = START
    _module_sandbox.state.reset()
    return _module_sandbox


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """Plain httpx client for the fake endpoints."""
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def admin(sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    with SandboxAdmin(sandbox.url) as client:
        yield client
