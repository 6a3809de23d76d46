"""``type: postgresql``: log in and run a read-only query. asyncpg is the client: asyncio-native, no libpq, and
the cheapest connection setup of the PostgreSQL drivers (a probe connects every time)."""

from __future__ import annotations

from typing import ClassVar, Literal

from monitoring_pipeline.integrations.probes.common import Answer, Port, ProbeContext, ProbeFailure, describe, redact
from monitoring_pipeline.integrations.probes.databases import DEFAULT_QUERY, DatabaseIntegration, query_fields

APPLICATION_NAME = "monitoring-pipeline-probe"  # what a DBA sees in pg_stat_activity


class PostgresqlIntegration(DatabaseIntegration):
    """A PostgreSQL server."""

    type: Literal["postgresql"] = "postgresql"
    port: Port = 5432
    database: str | None = "postgres"

    KIND: ClassVar[str] = "postgres"
    SCHEME: ClassVar[str] = "postgresql"


async def probe(integration: PostgresqlIntegration, context: ProbeContext) -> Answer:
    import asyncpg

    password = integration.password()
    # Without tls: the libpq default ("prefer": TLS when the server offers it); with tls: required and verified
    # as configured. A refused upgrade is a tls failure.
    ssl = context.ssl_context(integration.tls) if integration.tls is not None else "prefer"
    try:
        connection = await asyncpg.connect(
            host=integration.host, port=integration.port, user=integration.user, password=password,
            database=integration.database, ssl=ssl, timeout=integration.timeout,
            server_settings={"application_name": APPLICATION_NAME},
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise ProbeFailure("auth", redact(describe(error), password)) from None
    except asyncpg.PostgresError as error:
        raise ProbeFailure("server", redact(describe(error), password)) from None
    except ConnectionError as error:
        if "SSL" in str(error):
            raise ProbeFailure("tls", describe(error)) from None
        raise
    try:
        if integration.query == DEFAULT_QUERY:
            rows = await connection.fetch(DEFAULT_QUERY)
        else:
            async with connection.transaction(readonly=True):
                rows = await connection.fetch(integration.query)
        version = ".".join(str(part) for part in connection.get_server_version()[:2])
    except asyncpg.PostgresError as error:
        connection.terminate()
        raise ProbeFailure("server", f"query failed: {describe(error)}") from None
    except BaseException:
        connection.terminate()
        raise
    await connection.close()
    return Answer(fields=query_fields([tuple(row.values()) for row in rows], version))
