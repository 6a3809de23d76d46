"""Probe types beyond HTTP: one module per ``type:``, each a config model and an ``async def probe``.

``INTEGRATION_TYPES`` maps each ``type:`` to its model (HTTP's lives in ``config.py``, its probing in
``runner.py``); ``probe`` runs the probe of a non-HTTP integration once. Client libraries are imported when a
probe of their type runs, so loading the file costs none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from monitoring_pipeline.integrations.config import HttpIntegration, IntegrationConfig
from monitoring_pipeline.integrations.probes import (
    amqp,
    dns,
    grpc,
    mqtt,
    mysql,
    nats,
    postgresql,
    push,
    redis,
    smtp,
    tcp,
    tls,
)
from monitoring_pipeline.integrations.probes.common import Answer, ProbeContext, ProbeFailure, failure_class

_MODULES: dict[str, Any] = {
    "tcp": tcp, "tls": tls, "dns": dns, "smtp": smtp, "postgresql": postgresql, "mysql": mysql, "redis": redis,
    "amqp": amqp, "mqtt": mqtt, "nats": nats, "grpc": grpc,
}
_MODELS = {
    "tcp": tcp.TcpIntegration, "tls": tls.TlsIntegration, "dns": dns.DnsIntegration, "smtp": smtp.SmtpIntegration,
    "postgresql": postgresql.PostgresqlIntegration, "mysql": mysql.MysqlIntegration,
    "redis": redis.RedisIntegration, "amqp": amqp.AmqpIntegration, "mqtt": mqtt.MqttIntegration,
    "nats": nats.NatsIntegration, "grpc": grpc.GrpcIntegration,
}
INTEGRATION_TYPES: dict[str, type[IntegrationConfig]] = {
    "http": HttpIntegration, **_MODELS, "push": push.PushIntegration,
}
PUSH = "push"
# The client libraries of each type, imported before a pass starts so that no probe's latency includes them.
_CLIENTS = {
    "tcp": (), "tls": ("cryptography.x509",), "dns": ("dns.asyncquery", "dns.message", "dns.rcode"),
    "smtp": ("aiosmtplib", "cryptography.x509"), "postgresql": ("asyncpg",), "mysql": ("aiomysql", "pymysql"),
    "redis": ("redis.asyncio",), "amqp": ("aiormq",), "mqtt": ("aiomqtt",), "nats": ("nats",),
    "grpc": ("grpc", "grpc_health.v1.health_pb2_grpc"),
}


def load_clients(types: Iterable[str]) -> None:
    """Import the clients of ``types`` (once per process)."""
    for module in {name for kind in types for name in _CLIENTS.get(kind, ())}:
        importlib.import_module(module)


async def probe(integration: IntegrationConfig, context: ProbeContext) -> Answer:
    """Probe a non-HTTP, non-push integration once (the runner bounds it with the integration's timeout)."""
    run: Callable[[Any, ProbeContext], Awaitable[Answer]] | None = getattr(_MODULES.get(integration.type), "probe",
                                                                            None)
    if run is None:
        raise ProbeFailure("internal", f"{integration.type} integrations are not probed by the runner"
                           + (" (their pings are judged by the probe pass)" if integration.type == PUSH else ""))
    return await run(integration, context)


__all__ = ["INTEGRATION_TYPES", "PUSH", "Answer", "ProbeContext", "ProbeFailure", "failure_class", "load_clients",
           "probe"]
