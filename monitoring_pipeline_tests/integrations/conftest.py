"""Probe tests: the sandbox (a real HTTP server with programmable endpoints), integrations files, and the real
servers each probe type talks to (servers.py)."""

from __future__ import annotations

import datetime as _datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring_pipeline.integrations.config import IntegrationConfig, IntegrationsFile, load_integrations
from monitoring_pipeline_tests.integrations import servers


def integrations(tmp_path: Path, entries: list[dict[str, Any]], **probing: Any) -> IntegrationsFile:
    """An integrations file written and loaded through the real loader (defaults for quick tests)."""
    path = tmp_path / "integrations.yaml"
    defaults = {"category": "test", "interval": "5s", "timeout": "2s", "retries": {"attempts": 0}}
    path.write_text(yaml.safe_dump({"probing": probing, "defaults": defaults, "integrations": entries}))
    return load_integrations(path)


def one(tmp_path: Path, **entry: Any) -> IntegrationConfig:
    return integrations(tmp_path, [{"name": "api", **entry}]).integrations[0]


# -- real servers for the probe types (servers.py) --------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_service():
    with servers.redis_server() as service:
        yield service


@pytest.fixture(scope="session")
def mqtt_service():
    with servers.mosquitto_server() as service:
        yield service


@pytest.fixture(scope="session")
def nats_service():
    with servers.nats_server() as service:
        yield service


@pytest.fixture
def postgres_service():
    return servers.machine_service("PostgreSQL", 5432, user="postgres")


@pytest.fixture
def mariadb_service():
    return servers.machine_service("MariaDB", 3306, user="root", password="")


@pytest.fixture
def rabbitmq_service():
    return servers.machine_service("RabbitMQ", 5672, user="guest", password="guest")


@pytest.fixture
def silent_port():
    with servers.silent_listener() as port:
        yield port


@pytest.fixture
def closed_port():
    with servers.refusing_port() as port:
        yield port


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost, valid 30 more days: (cert, key)."""
    from monitoring_pipeline.fakes.tls import write_self_signed_certificate

    directory = tmp_path_factory.mktemp("certificate")
    not_after = _datetime.datetime.now(_datetime.UTC) + _datetime.timedelta(days=30)
    return write_self_signed_certificate(directory, common_name="localhost", not_after=not_after, stem="probe")
