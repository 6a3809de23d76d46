"""Run the emulator as a real HTTP server: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import logging

import uvicorn

from monitoring_pipeline.fakes.dnb_emulator.app import create_app
from monitoring_pipeline.fakes.dnb_emulator.config import EmulatorConfig
from monitoring_pipeline.fakes.dnb_emulator.demo import seed_demo as _seed_demo
from monitoring_pipeline.fakes.dnb_emulator.state import EmulatorState
from monitoring_pipeline.httpserver import BackgroundServer, ensure_logging, serve_in_foreground, uvicorn_server

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
__all__ = ["EmulatorServer", "serve_forever", "seed_demo"]
seed_demo = _seed_demo


class _DroppedConnectionFilter(logging.Filter):
    """Hide uvicorn's error line for the responses the drop_connection fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "ASGI callable returned without completing response."


_DROP_FILTER = _DroppedConnectionFilter()


def _uvicorn_server(config: EmulatorConfig, state: EmulatorState) -> uvicorn.Server:
    # h11 because its handling of an incomplete response (close the transport) is what the
    # drop_connection fault relies on.
    return uvicorn_server(create_app(config, state), http="h11", log_filters=[_DROP_FILTER])


class EmulatorServer(BackgroundServer):
    """The emulator on a loopback port in a daemon thread; use as a context manager."""

    label = "dnb-emulator"

    def __init__(
        self,
        config: EmulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        state: EmulatorState | None = None,
    ) -> None:
        super().__init__(host, port)
        self.config = config
        self.state = state if state is not None else EmulatorState(config)

    def _build_server(self) -> uvicorn.Server:
        return _uvicorn_server(self.config, self.state)


def serve_forever(
    config: EmulatorConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT, seed_demo: bool = False
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C / SIGTERM)."""
    ensure_logging()
    state = EmulatorState(config)
    if seed_demo:
        _seed_demo(state)
    demo = " with demo registrations" if seed_demo else ""
    serve_in_foreground(
        _uvicorn_server(config, state), host, port, logger, "D&B Direct+ emulator listening on %s%s", demo
    )
