"""Fixtures for the D&B emulator tests: a real server on a free loopback port and plain httpx clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorServer
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import TEST_KEY, TEST_SECRET, get_token


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    """Defaults of a real key (5 calls/s). Test modules override this (module-scoped) fixture."""
    return EmulatorConfig(client_id=TEST_KEY, client_secret=TEST_SECRET)


@pytest.fixture(scope="module")
def _module_emulator(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    # One server per module: uvicorn's shutdown alone costs ~0.15 s, too much per test.
    with EmulatorServer(emulator_config) as server:
        yield server


@pytest.fixture
def emulator(_module_emulator: EmulatorServer) -> EmulatorServer:
    """A running emulator with a fresh state (reset: no registrations, tokens, faults, stats, clock offset)."""
    _module_emulator.state.reset()
    return _module_emulator


@pytest.fixture
def admin_http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """Plain httpx client for the ``/_emulator`` control API."""
    with httpx.Client(base_url=emulator.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def api(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """Client for D&B endpoints, already holding a v3 bearer token."""
    with httpx.Client(base_url=emulator.url, timeout=10.0) as client:
        client.headers["Authorization"] = f"Bearer {get_token(client)}"
        yield client
