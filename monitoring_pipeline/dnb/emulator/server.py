"""Run the emulator as a real HTTP server: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn

from monitoring_pipeline.dnb.emulator.app import create_app
from monitoring_pipeline.dnb.emulator.config import EmulatorConfig
from monitoring_pipeline.dnb.emulator.demo import seed_demo as _seed_demo
from monitoring_pipeline.dnb.emulator.state import EmulatorState

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
__all__ = ["EmulatorServer", "serve_forever", "seed_demo"]
seed_demo = _seed_demo


def _bind(host: str, port: int) -> socket.socket:
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


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _DroppedConnectionFilter(logging.Filter):
    """Hide uvicorn's error line for the responses the drop_connection fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "ASGI callable returned without completing response."


_DROP_FILTER = _DroppedConnectionFilter()


def _uvicorn_server(config: EmulatorConfig, state: EmulatorState) -> uvicorn.Server:
    # h11 because its handling of an incomplete response (close the transport) is what the
    # drop_connection fault relies on.
    uv_config = uvicorn.Config(
        create_app(config, state),
        http="h11",
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(uv_config)
    # Added after uvicorn.Config, which (re)configures its loggers.
    error_logger = logging.getLogger("uvicorn.error")
    if _DROP_FILTER not in error_logger.filters:
        error_logger.addFilter(_DROP_FILTER)
    return server


class EmulatorServer:
    """The emulator on a loopback port in a daemon thread; use as a context manager."""

    def __init__(
        self,
        config: EmulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        state: EmulatorState | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.state = state if state is not None else EmulatorState(config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43123`` (only once started)."""
        if self._url is None:
            raise RuntimeError("EmulatorServer is not started")
        return self._url

    def start(self, timeout: float = 15.0) -> EmulatorServer:
        """Start serving and return once the health endpoint answers."""
        if self._thread is not None:
            raise RuntimeError("EmulatorServer is already started")
        self._socket = _bind(self.host, self.port)
        self._url = _url(self.host, self._socket)
        self._server = _uvicorn_server(self.config, self.state)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="dnb-emulator", daemon=True
        )
        self._thread.start()
        try:
            self._wait_until_ready(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the emulator server stopped while starting (see the log)")
                try:
                    if client.get(self.url + "/_emulator/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise TimeoutError(f"the emulator did not answer on {self.url} within {timeout:g}s")

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

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    config: EmulatorConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT, seed_demo: bool = False
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C / SIGTERM)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state = EmulatorState(config)
    if seed_demo:
        _seed_demo(state)
    sock = _bind(host, port)
    demo = " with demo registrations" if seed_demo else ""
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.info("D&B Direct+ emulator listening on %s%s", _url(host, sock), demo)
    try:
        _uvicorn_server(config, state).run(sockets=[sock])
    finally:
        sock.close()
