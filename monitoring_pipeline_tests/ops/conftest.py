"""Fixtures of the ops tests: a seeded project database and the ops service on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.ops.server import OpsServer
from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline_tests.ops.seed import Seeded, integrations_file, seed, settings_for

API_TOKEN = "ops-token-never-shown-3f9a"
STATUSPAGE_TOKEN = "statuspage-secret-7c1d"
GENERIC_SECRET = "generic-hmac-secret-55e2"
ACK_KEY = "k" * 40


@pytest.fixture
def ops_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("STATUSPAGE_TOKEN", STATUSPAGE_TOKEN)
    monkeypatch.setenv("GENERIC_SECRET", GENERIC_SECRET)
    monkeypatch.setenv("OPS_ACK_SIGNING_KEY", ACK_KEY)


def ops_config(**overrides: object) -> OpsConfig:
    raw = {"webhooks": {
        "statuspage": {"type": "statuspage", "auth": {"type": "token", "token_env": "STATUSPAGE_TOKEN"},
                       "max_body_bytes": 4096},
        "ci": {"type": "generic", "auth": {"type": "hmac", "secret_env": "GENERIC_SECRET"}},
    }, **overrides}
    return OpsConfig.model_validate(raw)


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> tuple[Seeded, ProjectSettings]:
    names = integrations_file(tmp_path / "integrations.yaml", 12)
    settings = settings_for(tmp_path, tmp_path / "integrations.yaml", str(engine.url))
    return seed(engine, names, datetime.now(UTC)), settings


@pytest.fixture
def ops_server(engine: Engine, seeded: tuple[Seeded, ProjectSettings], ops_env: None
               ) -> Iterator[Callable[..., OpsServer]]:
    started: list[OpsServer] = []

    def start(config: OpsConfig | None = None, **options: object) -> OpsServer:
        server = OpsServer(engine, seeded[1], config or ops_config(), extra_routes=[], **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
