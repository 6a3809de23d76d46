"""What the database probe types share: credentials from the environment, an optional read-only query."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, StrictStr

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.auth import EnvName
from monitoring_pipeline.integrations.probes.common import (
    CLIENT_TLS_NOT_FROM_DEFAULTS,
    NetworkIntegration,
    OptionalTls,
    optional_secret,
    plain,
)

DEFAULT_QUERY = "SELECT 1"
# Statements that read. The query also runs in a read-only transaction, but MySQL commits before DDL, so the
# statement itself is checked first.
READING_STATEMENTS = ("SELECT", "SHOW", "WITH", "VALUES", "TABLE", "EXPLAIN", "DESCRIBE", "DESC")
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*([A-Za-z]+)", re.S)


def _reading_query(value: str) -> str:
    found = _FIRST_WORD.match(value)
    if found is None or found.group(1).upper() not in READING_STATEMENTS or ";" in value.strip().rstrip(";"):
        raise expected("one statement that reads (" + ", ".join(READING_STATEMENTS) + "); a probe never writes",
                       repr(value[:80]))
    return value


class DatabaseIntegration(NetworkIntegration):
    """A database server: connect and log in, run ``query`` (read-only), report the server version and result."""

    user: StrictStr
    password_env: EnvName | None = None  # the variable holding the password (none: no password)
    database: StrictStr | None = None
    query: Annotated[StrictStr, AfterValidator(_reading_query)] = DEFAULT_QUERY  # read-only; first value: `result`
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = ("server_version", "result", "rows")

    @property
    def target(self) -> str:
        return f"{self.SCHEME}://{self.address}/{self.database or ''}"

    def password(self) -> str | None:
        return optional_secret(self.password_env)


def query_fields(rows: list[Any], server_version: str) -> dict[str, Any]:
    """``server_version``, ``rows`` (how many came back) and ``result`` (the first column of the first row)."""
    first = rows[0][0] if rows and len(rows[0]) else None
    return {"server_version": server_version, "rows": len(rows), "result": plain(first)}
