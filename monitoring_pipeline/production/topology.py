"""The production topology: which processes run, with which command, reading which workspace.

One source of truth for ``monitoring-pipeline prod-local`` (which runs it on this machine), docker-compose.yaml and
the Helm values (whose commands tests compare with these), and the tests that run it. A command is an argument
list; ``{host}``, ``{port}`` and ``{workspace}`` are the only parts that differ between a container (0.0.0.0, the
fixed port, the baked-in workspace) and a local run (loopback, a free port, a file in DAGSTER_HOME). The code server
takes its address from ``DAGSTER_GRPC_HOST``/``DAGSTER_GRPC_PORT`` and the workspace finds each code server through
``CODE_LOCATION_<NAME>_HOST``/``_PORT``, so neither differs at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFINITIONS_MODULE = "monitoring_pipeline.definitions"
LOCATIONS_MODULE = "monitoring_pipeline.production.locations"
LOCATION_NAME = "monitoring_pipeline"

CODE_SERVER_PORT = 4000
WEBSERVER_PORT = 3000
OPS_PORT = 8767

# Where the image keeps the instance and workspace files and the data (Dockerfile, docker-compose.yaml, Helm).
IMAGE_DAGSTER_HOME = "/opt/dagster/dagster_home"
IMAGE_WORKSPACE = f"{IMAGE_DAGSTER_HOME}/workspace.yaml"
IMAGE_STATE_DIR = "/var/lib/monitoring_pipeline"


@dataclass(frozen=True)
class CodeLocation:
    """A code server: the project's definitions (or a part of them, ``attribute``) under a location name."""

    name: str
    module: str = DEFINITIONS_MODULE
    attribute: str | None = None
    # Settings of this location only (e.g. its own INTEGRATIONS_CONFIG); everything else is shared.
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def host_variable(self) -> str:
        return f"CODE_LOCATION_{self.name.upper()}_HOST"

    @property
    def port_variable(self) -> str:
        return f"CODE_LOCATION_{self.name.upper()}_PORT"

    @property
    def service_name(self) -> str:
        return "code-server" if self.name == LOCATION_NAME else f"code-server-{self.name.replace('_', '-')}"


# The whole project in one code location (the default), or split by domain (docs/production.md, "Splitting").
SINGLE_LOCATION = (CodeLocation(LOCATION_NAME),)
SPLIT_LOCATIONS = (
    CodeLocation("dnb", module=LOCATIONS_MODULE, attribute="dnb"),
    CodeLocation("integrations", module=LOCATIONS_MODULE, attribute="integrations"),
)


@dataclass(frozen=True)
class Service:
    """One long-running process (or, when ``one_shot``, a step that must finish before the others start)."""

    name: str
    argv: tuple[str, ...]
    port: int | None = None  # the port it listens on in a container
    one_shot: bool = False
    location: CodeLocation | None = None

    def command(self, host: str = "0.0.0.0", port: int | None = None, workspace: str = IMAGE_WORKSPACE) -> list[str]:
        """The argument list, with the listen address and workspace filled in."""
        values = {"host": host, "port": str(self.port if port is None else port), "workspace": workspace}
        return [part.format(**values) for part in self.argv]


def code_server(location: CodeLocation) -> Service:
    target = ["--module-name", location.module, *(["--attribute", location.attribute] if location.attribute else [])]
    return Service(
        name=location.service_name,
        # Address from DAGSTER_GRPC_HOST / DAGSTER_GRPC_PORT: the same command in a container and on this machine.
        argv=("dagster", "api", "grpc", *target, "--location-name", location.name, "--log-format", "json"),
        port=CODE_SERVER_PORT,
        location=location,
    )


def services(locations: Sequence[CodeLocation] = SINGLE_LOCATION) -> list[Service]:
    """Every process of the deployment, in start order."""
    return [
        # Migrates the project database and Dagster's storage, sets the pool limits; then exits.
        Service("init", ("monitoring-pipeline", "prod-init"), one_shot=True),
        *(code_server(location) for location in locations),
        Service("webserver", ("dagster-webserver", "--host", "{host}", "--port", "{port}", "--workspace", "{workspace}",
                              "--log-format", "json"), port=WEBSERVER_PORT),
        Service("daemon", ("dagster-daemon", "run", "--workspace", "{workspace}", "--log-format", "json")),
        Service("ops", ("monitoring-pipeline", "serve", "--host", "{host}", "--port", "{port}"), port=OPS_PORT),
    ]


def workspace(locations: Sequence[CodeLocation] = SINGLE_LOCATION) -> dict[str, object]:
    """The workspace of the webserver and the daemon: each code server by address, the address from the
    environment (``CODE_LOCATION_<NAME>_HOST``/``_PORT``)."""
    return {
        "load_from": [
            {"grpc_server": {"host": {"env": location.host_variable}, "port": {"env": location.port_variable},
                             "location_name": location.name}}
            for location in locations
        ]
    }
