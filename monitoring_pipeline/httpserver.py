"""Serve an ASGI app with uvicorn on a loopback socket: in a background thread (tests, the demo) or in the
foreground (the CLI). Shared by the fakes (D&B emulator, integration sandbox) and the project's own servers."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

# Key of the ASGI scope extension holding the connection's asyncio transport (see ``expose_transport``).
TRANSPORT_EXTENSION = "monitoring_pipeline.transport"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (prefer ``bind_socket(host, 0)``, which cannot race)."""
    with bind_socket(host, 0) as sock:
        return int(sock.getsockname()[1])


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound socket (port 0 picks a free one) so the port is known before uvicorn starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def socket_url(host: str, sock: socket.socket, scheme: str = "http") -> str:
    """Base URL of a bound socket, e.g. ``http://127.0.0.1:43123``."""
    port = sock.getsockname()[1]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def connection_transport(scope: Scope) -> asyncio.Transport | None:
    """The transport of the request's connection, when the server runs with ``expose_transport``."""
    return (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION)


def _protocol_exposing_transport(http: str) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class that also puts each connection's transport into the request scope.

    ASGI has no way to drop a connection without answering; a fault that must look like a reset
    (nothing sent, connection gone) aborts the transport itself.
    """
    base: type[Any]
    if http == "httptools" or (http == "auto" and _has_httptools()):
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class TransportExposingProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            app: ASGIApp = self.app

            async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
                scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = transport
                await app(scope, receive, send)

            self.app = with_transport

    return TransportExposingProtocol


def _has_httptools() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


class _Server(uvicorn.Server):
    """uvicorn's server with hooks that run (in the event loop) before connections are drained.

    uvicorn waits for every open request before it shuts down; a request held open on purpose (a hanging
    endpoint) must be released first or shutdown stalls until its graceful timeout.
    """

    def __init__(self, config: uvicorn.Config, before_shutdown: Iterable[Callable[[], None]] = ()) -> None:
        super().__init__(config)
        self.before_shutdown = list(before_shutdown)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for hook in self.before_shutdown:
            hook()
        await super().shutdown(sockets)


def uvicorn_server(
    app: ASGIApp,
    *,
    http: str = "h11",
    expose_transport: bool = False,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    before_shutdown: Iterable[Callable[[], None]] = (),
    log_filters: Iterable[logging.Filter] = (),
    **options: Any,
) -> uvicorn.Server:
    """A quiet uvicorn server for ``app`` (no access log), to be run on a socket from ``bind_socket``.

    ``http`` is ``h11``, ``httptools`` or ``auto``; ``log_filters`` are added to ``uvicorn.error``
    for log lines a caller provokes on purpose. Other keyword arguments go to ``uvicorn.Config``.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both a certificate and its key")
    settings: dict[str, Any] = {
        "loop": "asyncio",
        "lifespan": "on",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 2,
        **options,
    }
    protocol: str | type[asyncio.Protocol] = _protocol_exposing_transport(http) if expose_transport else http
    uv_config = uvicorn.Config(
        app,
        http=protocol,  # type: ignore[arg-type]
        ssl_certfile=str(tls_cert) if tls_cert is not None else None,
        ssl_keyfile=str(tls_key) if tls_key is not None else None,
        **settings,
    )
    server = _Server(uv_config, before_shutdown)
    # Added after uvicorn.Config, which (re)configures its loggers.
    error_logger = logging.getLogger("uvicorn.error")
    for log_filter in log_filters:
        if log_filter not in error_logger.filters:
            error_logger.addFilter(log_filter)
    return server


def serve_in_foreground(
    server: uvicorn.Server, host: str, port: int, logger: logging.Logger, message: str, *args: object,
    scheme: str = "http",
) -> None:
    """Bind ``host:port``, log ``message % (url, *args)`` at INFO, and serve until interrupted (Ctrl-C / SIGTERM)."""
    ensure_logging()
    sock = bind_socket(host, port)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.info(message, socket_url(host, sock, scheme), *args)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def ensure_logging() -> None:
    """Log INFO lines to stderr when the process has no logging set up (the CLI's servers)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class BackgroundServer:
    """A uvicorn server on a loopback port in a daemon thread; use as a context manager.

    Subclasses build the server in ``_build_server``; ``start`` binds the port first, so ``url`` is
    known (port 0 picks a free one) and returns once uvicorn accepts connections.
    """

    label = "server"  # in error messages and the thread's name

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both tls_cert and tls_key")
        self.host = host
        self.port = port
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None

    def _build_server(self) -> uvicorn.Server:
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43123`` (only once started)."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    def start(self, timeout: float = 15.0) -> Self:
        """Start serving and return once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._socket = bind_socket(self.host, self.port)
        self._url = socket_url(self.host, self._socket, self.scheme)
        try:
            self._server = self._build_server()
        except Exception:
            self._socket.close()
            self._socket = self._url = None
            raise
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=self.label, daemon=True
        )
        self._thread.start()
        try:
            self._wait_until_started(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_until_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError(f"the {self.label} server stopped while starting (see the log)")
            time.sleep(0.01)
        raise TimeoutError(f"the {self.label} server did not start on {self._url} within {timeout:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
