"""``type: tcp``: connect, optionally send bytes and expect an answer matching a regular expression.

The standard library's asyncio streams are the client: a TCP connect needs nothing more.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, StrictStr

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.conditions import ConditionResult
from monitoring_pipeline.integrations.probes.common import Answer, NetworkIntegration, ProbeContext

READ_LIMIT_BYTES = 65536
_SHOWN_CHARS = 200


def _bytes_text(value: str) -> str:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise expected("text of one-byte characters (latin-1; write control bytes as YAML escapes such as "
                       "\"\\x02\" or \"\\r\\n\")", "characters outside latin-1") from None
    return value


def _pattern(value: Any) -> Any:
    if not isinstance(value, str):
        raise expected("a regular expression as a string, such as ^\\+OK", repr(value))
    try:
        return re.compile(value)
    except re.error as error:
        raise expected("a valid regular expression", f"{value!r} ({error})") from None


class TcpIntegration(NetworkIntegration):
    """A TCP service: UP when it accepts a connection (and, with ``expect``, answers as expected)."""

    type: Literal["tcp"] = "tcp"
    send: Annotated[StrictStr, AfterValidator(_bytes_text)] | None = None  # sent once connected
    expect: Annotated[re.Pattern[str], BeforeValidator(_pattern)] | None = None  # searched in what comes back

    FIELDS: ClassVar[tuple[str, ...] | None] = ("received",)
    KIND: ClassVar[str] = "tcp"


async def probe(integration: TcpIntegration, context: ProbeContext) -> Answer:
    reader, writer = await asyncio.open_connection(integration.host, integration.port)
    try:
        if integration.send is not None:
            writer.write(integration.send.encode("latin-1"))
            await writer.drain()
        if integration.expect is None:
            return Answer()
        received = await _read_until(reader, integration.expect)
    finally:
        writer.close()
    passed = integration.expect.search(received) is not None
    shown = received if len(received) <= _SHOWN_CHARS else received[: _SHOWN_CHARS - 1] + "…"
    result = ConditionResult(f"received ~ /{integration.expect.pattern}/", passed, shown,
                             None if passed else "condition")
    return Answer(fields={"received": received}, conditions=(result,))


async def _read_until(reader: asyncio.StreamReader, pattern: re.Pattern[str]) -> str:
    """What the server sends until ``pattern`` matches, it closes the connection, or 64 KiB arrived."""
    received = b""
    while len(received) < READ_LIMIT_BYTES:
        chunk = await reader.read(READ_LIMIT_BYTES - len(received))
        if not chunk:
            break
        received += chunk
        if pattern.search(received.decode("latin-1")):
            break
    return received.decode("latin-1")
