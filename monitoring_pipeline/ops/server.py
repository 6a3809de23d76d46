"""Run the ops service: in a background thread (tests, the demo) or in the foreground (`monitoring-pipeline serve`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import uvicorn
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from monitoring_pipeline.httpserver import BackgroundServer, serve_in_foreground, uvicorn_server
from monitoring_pipeline.ops.app import build_app
from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.settings import ProjectSettings

logger = logging.getLogger(__name__)


def ops_routes(engine: Engine, settings: ProjectSettings) -> list[BaseRoute]:
    """Routes other parts of the project add to the ops service (push heartbeats: ``ops/ping.py``)."""
    try:
        from monitoring_pipeline.ops.ping import ping_routes  # written with the push probe type
    except ImportError:
        return []
    return list(ping_routes(engine, settings))


class OpsServer(BackgroundServer):
    """The ops service on a loopback port in a daemon thread; use as a context manager."""

    label = "ops service"

    def __init__(self, engine: Engine, settings: ProjectSettings, config: OpsConfig, host: str = "127.0.0.1",
                 port: int = 0, extra_routes: Sequence[BaseRoute] | None = None, **options: Any) -> None:
        super().__init__(host, port)
        routes = ops_routes(engine, settings) if extra_routes is None else extra_routes
        self.app = build_app(engine, settings, config, routes, **options)

    def _build_server(self) -> uvicorn.Server:
        return uvicorn_server(self.app, http="auto", timeout_graceful_shutdown=1)


def serve_forever(engine: Engine, settings: ProjectSettings, config: OpsConfig, host: str, port: int) -> None:
    app = build_app(engine, settings, config, ops_routes(engine, settings))
    serve_in_foreground(uvicorn_server(app, http="auto", timeout_graceful_shutdown=1), host, port, logger,
                        "Ops service on %s (status page, /metrics, /health/ready, /api/v1, /openapi.json)")
