"""The sandbox as a real HTTP server on loopback, for probe and sensor tests (imported by their conftest files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from monitoring_pipeline.sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox_admin(sandbox: Any) -> Iterator[Any]:
    from monitoring_pipeline.sandbox.admin_client import SandboxAdmin

    with SandboxAdmin(sandbox.url) as admin:
        yield admin
