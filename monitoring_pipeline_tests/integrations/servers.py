"""Real servers for the probe-type tests, on loopback.

Started by the tests themselves: Redis, Mosquitto and NATS (each a private instance with a password, on a free
port: the Debian binaries that scripts/test installs), an SMTP server (aiosmtpd, with STARTTLS), a gRPC health
server (grpcio's health servicer), a DNS server (a UDP socket answering with dnspython's messages), and a listener
that accepts connections and never answers. The machine's own PostgreSQL (5432), MariaDB (3306) and RabbitMQ
(5672) are used where they run (scripts/test starts them when installed but stopped). A service that is neither
installed nor running skips its tests with a reason naming it, never silently.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from monitoring_pipeline.httpserver import bind_socket, free_port

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Service:
    host: str
    port: int
    user: str | None = None
    password: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False, repr=False)  # one we started


def listening(host: str, port: int, timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def machine_service(name: str, port: int, **login: str | None) -> Service:
    """The machine's own ``name`` on loopback ``port``, or a skip that names it."""
    if not listening(LOOPBACK, port):
        pytest.skip(f"{name} is not running on {LOOPBACK}:{port} (scripts/test starts it when it is installed)")
    return Service(LOOPBACK, port, **login)


def binary(path: str, package: str) -> str:
    found = shutil.which(path) or (path if Path(path).is_file() else None)
    if found is None:
        pytest.skip(f"{package} is not installed ({path} is missing; scripts/test installs Debian's {package})")
    return found


@contextlib.contextmanager
def process(command: list[str], port: int, name: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the end of the block; ready once ``port`` accepts connections."""
    log = (workdir / f"{name}.log").open("wb")
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + 20
        while not listening(LOOPBACK, port, timeout=0.2):
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: " + (workdir / f"{name}.log").read_text()[-2000:])
            time.sleep(0.05)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
        log.close()


@contextlib.contextmanager
def redis_server(port: int | None = None, password: str | None = None) -> Iterator[Service]:
    """A private redis-server that requires a password (on ``port``, to restart one where it was)."""
    executable = binary("redis-server", "redis-server")
    password = password or secrets.token_urlsafe(16)
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="mp-redis-") as scratch:
        command = [executable, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
                   "--requirepass", password, "--dir", scratch]
        with process(command, port, "redis", Path(scratch)) as child:
            yield Service(LOOPBACK, port, None, password, child)


@contextlib.contextmanager
def mosquitto_server() -> Iterator[Service]:
    """A private Mosquitto that refuses anonymous clients; user ``probe``."""
    executable = binary("/usr/sbin/mosquitto", "mosquitto")
    passwd = binary("mosquitto_passwd", "mosquitto")
    password = secrets.token_urlsafe(16)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mp-mosquitto-") as scratch:
        workdir = Path(scratch)
        subprocess.run([passwd, "-b", "-c", str(workdir / "passwd"), "probe", password], check=True,
                       capture_output=True)
        (workdir / "mosquitto.conf").write_text(
            f"listener {port} {LOOPBACK}\nallow_anonymous false\npassword_file {workdir / 'passwd'}\n"
            "persistence false\nuser root\n")
        with process([executable, "-c", str(workdir / "mosquitto.conf")], port, "mosquitto", workdir):
            yield Service(LOOPBACK, port, "probe", password)


@contextlib.contextmanager
def nats_server() -> Iterator[Service]:
    """A private nats-server with user ``probe``."""
    executable = binary("/usr/sbin/nats-server", "nats-server")
    password = secrets.token_urlsafe(16)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mp-nats-") as scratch:
        command = [executable, "-a", LOOPBACK, "-p", str(port), "--user", "probe", "--pass", password]
        with process(command, port, "nats", Path(scratch)):
            yield Service(LOOPBACK, port, "probe", password)


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel's backlog) and never answered."""
    sock = bind_socket(LOOPBACK, 0)
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port nothing listens on (connections are refused)."""
    sock = bind_socket(LOOPBACK, 0)
    port = sock.getsockname()[1]
    sock.close()
    yield port


# -- DNS ------------------------------------------------------------------------------------------------------


class DnsServer:
    """A UDP DNS server answering from ``records`` ({(name, type): [rdata text]}); other names get NXDOMAIN,
    names in ``silent`` no answer at all."""

    def __init__(self, records: dict[tuple[str, str], list[str]], silent: tuple[str, ...] = ()) -> None:
        self.records = {(name.rstrip(".").lower(), kind): values for (name, kind), values in records.items()}
        self.silent = {name.rstrip(".").lower() for name in silent}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.queries += 1
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            if name in self.silent:
                continue
            response = dns.message.make_response(query)
            values = self.records.get((name, dns.rdatatype.to_text(question.rdtype)))
            if values:
                response.answer.append(dns.rrset.from_text(question.name, 300, dns.rdataclass.IN, question.rdtype,
                                                           *values))
            elif not any(key[0] == name for key in self.records):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)


# -- SMTP -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def smtp_server(cert: Path, key: Path, *, starttls: bool = True) -> Iterator[Service]:
    """aiosmtpd on a free port, offering STARTTLS with ``cert`` when ``starttls``."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    context = None
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    port = free_port()
    controller = Controller(Sink(), hostname=LOOPBACK, port=port, tls_context=context, ident="Probe test ESMTP")
    controller.start()
    try:
        yield Service(LOOPBACK, port)
    finally:
        controller.stop()


# -- gRPC -----------------------------------------------------------------------------------------------------


@dataclass
class GrpcHealthServer:
    port: int
    servicer: object

    def set(self, service: str, serving: bool) -> None:
        from grpc_health.v1 import health_pb2

        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self.servicer.set(service, status)  # type: ignore[attr-defined]


@contextlib.contextmanager
def grpc_health_server(cert: Path | None = None, key: Path | None = None) -> Iterator[GrpcHealthServer]:
    """grpcio's standard health servicer on a free port (TLS with ``cert`` and ``key``); "" is SERVING."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if cert is not None and key is not None:
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        port = server.add_secure_port(f"{LOOPBACK}:0", credentials)
    else:
        port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    running = GrpcHealthServer(port, servicer)
    running.set("", True)
    try:
        yield running
    finally:
        server.stop(grace=None)
