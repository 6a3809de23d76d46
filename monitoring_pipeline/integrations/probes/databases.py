"""What the database probe types share: credentials from the environment, an optional read-only query."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import StrictStr

from monitoring_pipeline.integrations.auth import EnvName, secret
from monitoring_pipeline.integrations.probes.common import NetworkIntegration, OptionalTls, plain

DEFAULT_QUERY = "SELECT 1"


class DatabaseIntegration(NetworkIntegration):
    """A database server: connect and log in, run ``query`` (read-only), report the server version and result."""

    user: StrictStr
    password_env: EnvName | None = None  # the variable holding the password (none: no password)
    database: StrictStr | None = None
    query: StrictStr = DEFAULT_QUERY  # run in a read-only transaction; its first value is `result`
    tls: OptionalTls = None

    FIELDS: ClassVar[tuple[str, ...] | None] = ("server_version", "result", "rows")

    @property
    def target(self) -> str:
        return f"{self.SCHEME}://{self.address}/{self.database or ''}"

    def password(self) -> str | None:
        return secret(self.password_env) if self.password_env else None


def query_fields(rows: list[Any], server_version: str) -> dict[str, Any]:
    """``server_version``, ``rows`` (how many came back) and ``result`` (the first column of the first row)."""
    first = rows[0][0] if rows and len(rows[0]) else None
    return {"server_version": server_version, "rows": len(rows), "result": plain(first)}
