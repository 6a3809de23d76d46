"""``type: redis``: PING, and INFO when conditions test its fields (``role``, ``connected_slaves``,
``db0.keys``...). redis-py's asyncio client is the client, with its own retries off: retries are the probe's."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictStr

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

CLIENT_NAME = "monitoring-pipeline-probe"


class RedisIntegration(NetworkIntegration):
    """A Redis (or Valkey) server: UP when it answers PING."""

    type: Literal["redis"] = "redis"
    port: Port = 6379
    db: int = Field(default=0, ge=0)
    username: StrictStr | None = None  # an ACL user (Redis 6+)
    password_env: EnvName | None = None
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = None  # any INFO field
    KIND: ClassVar[str] = "redis"


async def probe(integration: RedisIntegration, context: ProbeContext) -> Answer:
    import redis.asyncio
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    password = optional_secret(integration.password_env)
    tls = integration.tls
    client = redis.asyncio.Redis(
        host=integration.host, port=integration.port, db=integration.db, username=integration.username,
        password=password, socket_timeout=None, socket_connect_timeout=None, retry=Retry(NoBackoff(), 0),
        single_connection_client=True, client_name=CLIENT_NAME,
        ssl=tls is not None,
        ssl_cert_reqs="required" if tls is None or tls.verify else "none",
        ssl_check_hostname=tls is not None and tls.verify,
        ssl_ca_certs=str(tls.ca_file) if tls is not None and tls.ca_file else None,
    )
    wants_info = any(c.subject == "field" for c in integration.effective_conditions)
    try:
        await client.ping()
        info = await client.info() if wants_info else {}
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as error:
        raise ProbeFailure("auth", redact(describe(error), password)) from None
    except redis.exceptions.ResponseError as error:
        text = str(error)
        error_class = "auth" if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")) else "server"
        raise ProbeFailure(error_class, redact(describe(error), password)) from None
    except redis.exceptions.ConnectionError as error:
        # redis-py wraps refused connections and TLS failures alike; the cause tells them apart.
        raise ProbeFailure("tls" if "SSL" in str(error) else "connect", redact(describe(error), password)) from None
    finally:
        await client.aclose()
    return Answer(fields=plain(info))
