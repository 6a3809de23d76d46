"""Runs the production topology as processes on one machine: ``monitoring-pipeline prod-local`` and the tests.

Each service of ``topology.services()`` is started with the command a container runs, in its own process group
(so killing one takes its run workers with it, as a container's death would), its output appended to
``<home>/process-logs/<service>.log``. The instance is ``dagster.production.yaml`` with one change: runs are
processes of the code server (``LocalProcessRunLauncher``) instead of Docker containers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from monitoring_pipeline.production.topology import SINGLE_LOCATION, CodeLocation, Service, services, workspace
from monitoring_pipeline.settings import PROJECT_ROOT

PRODUCTION_INSTANCE = PROJECT_ROOT / "dagster.production.yaml"
READY_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0
# Dagster warns on every run that python_logs.dagster_handler_config is beta; the image sets the same (Dockerfile).
_PR_SET_PDEATHSIG = 1
QUIET_WARNINGS = "ignore:Handling yaml-defined logging configuration"


class TopologyError(RuntimeError):
    """A service did not start, or the init step failed; the message names it and the end of its log."""


def local_instance(max_run_seconds: int, source: Path = PRODUCTION_INSTANCE) -> dict[str, Any]:
    """``dagster.production.yaml`` for processes on one machine: runs are processes of the code server
    (``LocalProcessRunLauncher``). Run monitoring fails a run whose worker died (it cannot be resumed in a new one;
    the run-retry policy retries it) and any run still going after ``max_run_seconds``."""
    config = yaml.safe_load(source.read_text())
    config["run_launcher"] = {"module": "monitoring_pipeline.production.local_launcher",
                              "class": "LocalProcessRunLauncher"}
    monitoring = config.setdefault("run_monitoring", {})
    monitoring["max_resume_run_attempts"] = 0
    monitoring["max_runtime_seconds"] = max_run_seconds
    return config


@dataclass
class LocalTopology:
    """The topology on this machine; ``start()`` runs init, the code servers, the webserver, the daemon and the ops
    service, each waited for until it answers."""

    home: Path
    environment: Mapping[str, str]
    locations: Sequence[CodeLocation] = SINGLE_LOCATION
    host: str = "127.0.0.1"
    webserver_port: int = 3000
    ops_port: int = 8767
    code_server_ports: Mapping[str, int] = field(default_factory=dict)
    max_run_seconds: int = 3600
    announce: Callable[[str], None] = print
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.home = self.home.resolve()
        self.services = {service.name: service for service in services(self.locations)}
        for location in self.locations:
            if location.name not in self.code_server_ports:
                raise ValueError(f"no port for the code server of location {location.name!r}")

    @property
    def workspace_file(self) -> Path:
        return self.home / "workspace.yaml"

    @property
    def log_dir(self) -> Path:
        return self.home / "process-logs"  # not "logs": Dagster empties that one

    @property
    def webserver_url(self) -> str:
        return f"http://{self.host}:{self.webserver_port}"

    @property
    def ops_url(self) -> str:
        return f"http://{self.host}:{self.ops_port}"

    def prepare(self) -> None:
        """Write the instance (dagster.yaml) and the workspace into DAGSTER_HOME."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(local_instance(self.max_run_seconds), sort_keys=False))
        self.workspace_file.write_text(yaml.safe_dump(workspace(self.locations), sort_keys=False))

    def start(self) -> LocalTopology:
        self.prepare()
        self.run_init()
        for name, service in self.services.items():
            if not service.one_shot:
                self.start_service(name)
        return self

    def stop(self) -> None:
        """SIGTERM to every service at once, then SIGKILL to what is left after STOP_TIMEOUT_SECONDS."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        for handle in self._logs.values():
            handle.close()
        self._logs.clear()

    def __enter__(self) -> LocalTopology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment_of(self, service: Service) -> dict[str, str]:
        env = {**self.environment, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        env.setdefault("MONITORING_PIPELINE_LOG_FORMAT", "json")
        env.setdefault("PYTHONWARNINGS", QUIET_WARNINGS)
        for location in self.locations:
            env[location.host_variable] = self.host
            env[location.port_variable] = str(self.code_server_ports[location.name])
        if service.location is not None:
            env.update(service.location.environment)
            env["DAGSTER_GRPC_HOST"] = self.host
            env["DAGSTER_GRPC_PORT"] = str(self.code_server_ports[service.location.name])
        return env

    def command_of(self, service: Service) -> list[str]:
        port = {"webserver": self.webserver_port, "ops": self.ops_port}.get(service.name)
        argv = service.command(host=self.host, port=port, workspace=str(self.workspace_file))
        return [_executable(argv[0]), *argv[1:]]

    def run_init(self) -> None:
        service = self.services["init"]
        started = time.monotonic()
        completed = subprocess.run(self.command_of(service), env=self.environment_of(service), cwd=self.home,
                                   stdout=self._log("init"), stderr=subprocess.STDOUT, timeout=300, check=False)
        if completed.returncode != 0:
            raise TopologyError(f"init failed (exit {completed.returncode}):\n{self.log_tail('init')}")
        self.announce(f"init done in {time.monotonic() - started:.1f}s: {' '.join(service.command())} "
                      f"-> {self.log_dir / 'init.log'}")

    def start_service(self, name: str, wait: bool = True) -> None:
        service = self.services[name]
        process = subprocess.Popen(self.command_of(service), env=self.environment_of(service), cwd=self.home,
                                   stdout=self._log(name), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=_die_with_parent)
        self.processes[name] = process
        if wait:
            self.wait_ready(name)
        command = [Path(self.command_of(service)[0]).name, *self.command_of(service)[1:]]
        self.announce(f"{name} started (pid {process.pid}): {' '.join(command)} -> {self.log_dir / (name + '.log')}")

    def stop_service(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is not None:
            _signal_group(process, signal.SIGKILL)  # what the service left behind (run workers) goes with it
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        else:
            _signal_group(process, signal.SIGKILL)  # what the service left behind (run workers) goes with it

    def kill(self, name: str) -> None:
        """SIGKILL the service and everything it started (its run workers), as a container's death would."""
        process = self.processes.pop(name)
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self, name: str) -> None:
        self.stop_service(name)
        self.start_service(name)

    def wait_ready(self, name: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        service, process = self.services[name], self.processes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TopologyError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
            if self._answers(service):
                return
            time.sleep(0.5)
        raise TopologyError(f"{name} did not answer within {timeout:.0f}s:\n{self.log_tail(name)}")

    def _answers(self, service: Service) -> bool:
        if service.location is not None:
            return service_answers(service, self.host, self.code_server_ports[service.location.name])
        port = {"webserver": self.webserver_port, "ops": self.ops_port}.get(service.name)
        return service_answers(service, self.host, port) if port is not None else True  # the daemon: running

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _log(self, name: str) -> IO[bytes]:
        if name not in self._logs:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._logs[name] = (self.log_dir / f"{name}.log").open("ab")
        return self._logs[name]


def service_answers(service: Service, host: str, port: int) -> bool:
    """Whether a code server answers a gRPC ping, the webserver /server_info, the ops service /health/live."""
    try:
        if service.location is not None:
            from dagster._grpc.client import DagsterGrpcClient

            DagsterGrpcClient(port=port, host=host).ping("ready")
            return True
        path = {"webserver": "/server_info", "ops": "/health/live"}[service.name]
        return httpx.get(f"http://{host}:{port}{path}", timeout=5).status_code == 200
    except Exception:  # noqa: BLE001 - not answering, whatever the reason
        return False


def _executable(name: str) -> str:
    """The command from this environment's bin directory when it is there, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name) or name


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    except (OSError, AttributeError):
        return None  # not Linux: the processes outlive a killed supervisor


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, be sent SIGTERM when the supervisor dies, however it dies. SIGINT is
    handled again: started in the background (`nohup ... &`), the supervisor inherits it ignored, and Dagster's
    processes, which stop on SIGTERM by raising SIGINT, would then ignore every stop until killed."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
