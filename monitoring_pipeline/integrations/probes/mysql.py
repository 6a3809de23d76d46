"""``type: mysql`` (MySQL and MariaDB): log in and run a read-only query. aiomysql is the client (aio-libs'
asyncio port of PyMySQL, pure Python: nothing to compile)."""

from __future__ import annotations

from typing import ClassVar, Literal

from monitoring_pipeline.integrations.probes.common import Answer, Port, ProbeContext, ProbeFailure, describe, redact
from monitoring_pipeline.integrations.probes.databases import DEFAULT_QUERY, DatabaseIntegration, query_fields

PROGRAM_NAME = "monitoring-pipeline-probe"
# Error numbers of the MySQL protocol: access denied (bad user or password), and connection failures.
_AUTH_ERRORS = {1044, 1045, 1698}
_CONNECT_ERRORS = {2002, 2003, 2005}
_LOST_ERRORS = {2006, 2013}


class MysqlIntegration(DatabaseIntegration):
    """A MySQL or MariaDB server."""

    type: Literal["mysql"] = "mysql"
    port: Port = 3306

    KIND: ClassVar[str] = "mysql"
    SCHEME: ClassVar[str] = "mysql"


async def probe(integration: MysqlIntegration, context: ProbeContext) -> Answer:
    import aiomysql
    import pymysql
    import pymysql.constants

    password = integration.password()
    try:
        connection = await aiomysql.connect(
            host=integration.host, port=integration.port, user=integration.user, password=password or "",
            db=integration.database, connect_timeout=integration.timeout, autocommit=True,
            ssl=context.ssl_context(integration.tls) if integration.tls is not None else None,
            program_name=PROGRAM_NAME,
        )
    except pymysql.err.MySQLError as error:
        raise _failure(error, password) from None
    if integration.tls is not None and not connection.server_capabilities & pymysql.constants.CLIENT.SSL:
        # PyMySQL carries on in plain text when the server offers no TLS; a probe told to use TLS fails instead.
        connection.close()
        raise ProbeFailure("tls", "the server does not offer TLS")
    try:
        async with connection.cursor() as cursor:
            if integration.query != DEFAULT_QUERY:
                await cursor.execute("START TRANSACTION READ ONLY")
            await cursor.execute(integration.query)
            rows = list(await cursor.fetchall())
            if integration.query != DEFAULT_QUERY:
                await cursor.execute("ROLLBACK")
    except pymysql.err.MySQLError as error:
        connection.close()
        failure = _failure(error, password)
        raise ProbeFailure(failure.error_class, f"query failed: {failure.message}") from None
    except BaseException:
        connection.close()
        raise
    await connection.ensure_closed()
    return Answer(fields=query_fields(rows, connection.get_server_info()))


def _failure(error: Exception, password: str | None) -> ProbeFailure:
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    message = redact(describe(error), password)
    if code in _AUTH_ERRORS:
        return ProbeFailure("auth", message)
    if code in _CONNECT_ERRORS:
        return ProbeFailure("tls" if "SSL" in message else "connect", message)
    if code in _LOST_ERRORS:
        return ProbeFailure("protocol", message)
    return ProbeFailure("server", message)
