"""``type: mqtt``: connect (and log in), optionally a publish/subscribe round trip through a topic. aiomqtt is
the client (asyncio on paho-mqtt, the Eclipse reference client)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, StrictStr

from monitoring_pipeline.integrations.auth import EnvName
from monitoring_pipeline.integrations.config import _Model
from monitoring_pipeline.integrations.probes.common import (
    CLIENT_TLS_NOT_FROM_DEFAULTS,
    Answer,
    NetworkIntegration,
    OptionalTls,
    Port,
    ProbeContext,
    ProbeFailure,
    describe,
    optional_secret,
    redact,
    true_means_defaults,
)

DEFAULT_TOPIC = "monitoring-pipeline/probe"
CLIENT_ID_PREFIX = "monitoring-pipeline-probe-"
# CONNACK reason codes that mean the login was refused (MQTT 3.1.1: 4 and 5; MQTT 5: 134 and 135).
_AUTH_CODES = {4, 5, 134, 135}


class MqttRoundTrip(_Model):
    topic: StrictStr = DEFAULT_TOPIC  # the probe subscribes, publishes a random payload and waits for it
    qos: int = Field(default=1, ge=0, le=2)



class MqttIntegration(NetworkIntegration):
    """An MQTT broker: UP when it accepts the connection (and, with ``round_trip``, delivers our own message)."""

    type: Literal["mqtt"] = "mqtt"
    port: Port = 1883
    username: StrictStr | None = None
    password_env: EnvName | None = None
    client_id: StrictStr | None = None  # default: a random monitoring-pipeline-probe-<hex>
    round_trip: Annotated[MqttRoundTrip | None, BeforeValidator(true_means_defaults)] = None
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = ("round_trip_ms",)
    KIND: ClassVar[str] = "mqtt"


async def probe(integration: MqttIntegration, context: ProbeContext) -> Answer:
    import aiomqtt

    password = optional_secret(integration.password_env)
    client = aiomqtt.Client(
        integration.host, integration.port, username=integration.username, password=password,
        identifier=integration.client_id or CLIENT_ID_PREFIX + secrets.token_hex(6), clean_session=True,
        tls_context=context.ssl_context(integration.tls) if integration.tls is not None else None,
        timeout=integration.timeout,
    )
    fields: dict[str, Any] = {}
    try:
        async with client:
            if integration.round_trip is not None:
                fields["round_trip_ms"] = await _round_trip_ms(client, integration.round_trip)
    except aiomqtt.MqttCodeError as error:
        code = getattr(error.rc, "value", error.rc)
        error_class = "auth" if code in _AUTH_CODES else "server"
        raise ProbeFailure(error_class, redact(describe(error), password)) from None
    except aiomqtt.MqttError as error:
        # aiomqtt reports refused connections and TLS failures alike; with TLS configured, a connection the
        # broker accepted and then dropped is a refused handshake.
        text = redact(describe(error), password)
        tls_failed = "SSL" in text or "certificate" in text or (integration.tls is not None and "refused" not in text)
        error_class = "tls" if tls_failed else "connect"
        raise ProbeFailure(error_class, text) from None
    return Answer(fields=fields)


async def _round_trip_ms(client: Any, round_trip: MqttRoundTrip) -> float:
    payload = secrets.token_hex(8).encode()
    started = time.perf_counter()
    await client.subscribe(round_trip.topic, qos=round_trip.qos)
    await client.publish(round_trip.topic, payload, qos=round_trip.qos)
    async for message in client.messages:
        if message.payload == payload:
            return round((time.perf_counter() - started) * 1000.0, 3)
    raise ProbeFailure("protocol", "the broker closed the connection before our message came back")
