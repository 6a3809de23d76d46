"""Run the sandbox as a real HTTP(S) server: in a background thread (tests, the demo) or blocking (the CLI)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from monitoring_pipeline.fakes.sandbox.app import build_app
from monitoring_pipeline.fakes.sandbox.scenario import SandboxConfig
from monitoring_pipeline.fakes.sandbox.state import SandboxState
from monitoring_pipeline.httpserver import BackgroundServer, serve_in_foreground, uvicorn_server

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8766
# Longer than any client's idle-connection expiry (httpx: 5 s), so the sandbox never closes a pooled
# connection just as a probe reuses it, which a client would report as a dropped connection.
KEEP_ALIVE_SECONDS = 75
# httptools parses faster than h11 (see bench/sandbox_bench.py); "auto" falls back to h11 without it.
DEFAULT_HTTP = "auto"


def _uvicorn_server(
    state: SandboxState, tls_cert: Path | str | None, tls_key: Path | str | None, http: str
) -> uvicorn.Server:
    return uvicorn_server(
        build_app(state),
        http=http,
        expose_transport=True,  # the reset fault aborts the connection itself
        tls_cert=tls_cert,
        tls_key=tls_key,
        before_shutdown=[state.release_held_requests],
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        backlog=4096,  # a probing pass opens a thousand connections at once
    )


class SandboxServer(BackgroundServer):
    """The sandbox on a loopback port in a daemon thread; use as a context manager.

    ``tls_cert``/``tls_key`` (PEM files, see ``tls.write_self_signed_certificate``) serve HTTPS.
    ``clock`` (POSIX seconds) drives phases and token expiry, so tests can choose the instant.
    """

    label = "sandbox"

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        state: SandboxState | None = None,
        http: str = DEFAULT_HTTP,
    ) -> None:
        super().__init__(host, port, tls_cert, tls_key)
        if state is not None and config is not None and state.config != config:
            raise ValueError("state was built with a different SandboxConfig")
        self.state = state if state is not None else SandboxState(config, clock=clock)
        self.config = self.state.config
        self.http = http

    def _build_server(self) -> uvicorn.Server:
        return _uvicorn_server(self.state, self.tls_cert, self.tls_key, self.http)


def serve_forever(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    http: str = DEFAULT_HTTP,
    source: str | None = None,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C / SIGTERM); ``source`` names the scenario in the log."""
    state = SandboxState(config)
    origin = f" from {source}" if source else ""
    serve_in_foreground(
        _uvicorn_server(state, tls_cert, tls_key, http), host, port, logger,
        "Integration sandbox listening on %s with %d endpoints%s", len(state.endpoints()), origin,
        scheme="https" if tls_cert is not None else "http",
    )
