"""``type: amqp`` (RabbitMQ and other AMQP 0-9-1 brokers): log in, open a channel and, for ``queue``, read its
depth and consumers with a passive declare. aiormq is the client (the asyncio AMQP library under aio-pika,
without the reconnecting layer a probe does not want)."""

from __future__ import annotations

from typing import ClassVar, Literal
from urllib.parse import quote

from pydantic import StrictStr

from monitoring_pipeline.integrations.auth import EnvName
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
    plain,
    redact,
)

CONNECTION_NAME = "monitoring-pipeline-probe"


class AmqpIntegration(NetworkIntegration):
    """An AMQP broker: UP when it accepts the login and opens a channel (and ``queue`` exists)."""

    type: Literal["amqp"] = "amqp"
    port: Port = 5672
    vhost: StrictStr = "/"
    user: StrictStr
    password_env: EnvName | None = None
    queue: StrictStr | None = None  # reports queue_messages and queue_consumers (passive declare: never creates it)
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = ("product", "version", "queue_messages", "queue_consumers")
    KIND: ClassVar[str] = "rabbitmq"
    SCHEME: ClassVar[str] = "amqp"

    @property
    def target(self) -> str:
        vhost = "" if self.vhost == "/" else self.vhost
        return f"{'amqps' if self.tls else 'amqp'}://{self.address}/{vhost}"


async def probe(integration: AmqpIntegration, context: ProbeContext) -> Answer:
    import aiormq
    import aiormq.exceptions
    from yarl import URL

    password = optional_secret(integration.password_env) or ""
    url = URL.build(scheme="amqps" if integration.tls else "amqp", host=integration.host, port=integration.port,
                    user=integration.user, password=password, path="/" + integration.vhost,
                    query={"name": CONNECTION_NAME, "heartbeat": "0"})
    ssl = context.ssl_context(integration.tls) if integration.tls is not None else None
    try:
        connection = await aiormq.connect(url, context=ssl)
    except (aiormq.exceptions.ProbableAuthenticationError, aiormq.exceptions.AuthenticationError) as error:
        raise ProbeFailure("auth", _safe(error, password, "the broker refused the login")) from None
    except aiormq.exceptions.ConnectionClosed as error:
        raise ProbeFailure("server", _safe(error, password, "the broker closed the connection")) from None
    except aiormq.exceptions.AMQPConnectionError as error:
        text = _safe(error, password, "the broker refused the connection")
        error_class = "auth" if "ACCESS_REFUSED" in text else "tls" if "SSL" in text else "connect"
        raise ProbeFailure(error_class, text) from None
    except aiormq.exceptions.AMQPError as error:
        # RabbitMQ closes the connection (unknown vhost, no permission on it) in ways aiormq reads as bad frames.
        raise ProbeFailure("server", f"the broker closed the connection while opening vhost {integration.vhost!r} "
                                     f"({type(error).__name__})") from None
    try:
        channel = await connection.channel()
        fields = {
            "product": plain(connection.server_properties.get("product")),
            "version": plain(connection.server_properties.get("version")),
        }
        if integration.queue is not None:
            declared = await channel.queue_declare(integration.queue, passive=True)
            fields["queue_messages"] = declared.message_count
            fields["queue_consumers"] = declared.consumer_count
    except aiormq.exceptions.ChannelNotFoundEntity:
        raise ProbeFailure("server", f"no queue {integration.queue!r} in vhost {integration.vhost!r}") from None
    except aiormq.exceptions.AMQPError as error:
        raise ProbeFailure("server", _safe(error, password, "the broker refused the channel")) from None
    finally:
        await connection.close()
    return Answer(fields=fields)


def _safe(error: BaseException, password: str, fallback: str) -> str:
    """aiormq's messages may quote the connection URL, password included: it is replaced."""
    text = redact(describe(error), password, quote(password, safe=""))
    return text if text.strip() else fallback
