"""``type: tls``: a TLS handshake only; reports the certificate (days left, issuer, names, host name match), the
protocol version and the cipher. The standard library's ``ssl`` is the client."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import StrictBool

from monitoring_pipeline.integrations.config import Tls, TlsCaFile
from monitoring_pipeline.integrations.probes.common import (
    Answer,
    Host,
    NetworkIntegration,
    Port,
    ProbeContext,
    ProbeFailure,
    certificate_facts,
    describe,
)


class TlsIntegration(NetworkIntegration):
    """A TLS endpoint: UP when the handshake succeeds (and the conditions on its certificate pass)."""

    type: Literal["tls"] = "tls"
    port: Port = 443
    server_name: Host | None = None  # sent as SNI and matched against the certificate (default: host)
    verify: StrictBool = True  # verify the chain (and the name) during the handshake
    ca_file: TlsCaFile = None

    CONDITION_SUBJECTS: ClassVar[tuple[str, ...]] = ("field", "response_time", "tls_days_left")
    FIELDS: ClassVar[tuple[str, ...] | None] = ("days_left", "not_after", "issuer", "subject", "names",
                                                "hostname_match", "protocol", "cipher")
    DEFAULT_CONDITIONS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"field": "hostname_match", "equals": True}, {"tls_days_left": 0})
    KIND: ClassVar[str] = "tls"

    @property
    def name_checked(self) -> str:
        return self.server_name or self.host


async def probe(integration: TlsIntegration, context: ProbeContext) -> Answer:
    ssl_context = context.ssl_context(Tls(verify=integration.verify, ca_file=integration.ca_file))
    try:
        _, writer = await asyncio.open_connection(integration.host, integration.port, ssl=ssl_context,
                                                  server_hostname=integration.name_checked)
    except (ConnectionResetError, ConnectionAbortedError, asyncio.IncompleteReadError) as error:
        raise ProbeFailure("tls", f"the server dropped the connection during the handshake ({describe(error)})"
                           ) from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        facts = certificate_facts(ssl_object.getpeercert(binary_form=True), context.now(), integration.name_checked)
        facts["protocol"] = ssl_object.version()
        facts["cipher"] = (ssl_object.cipher() or ("",))[0]
    finally:
        writer.close()
    return Answer(fields=facts, tls_days_left=facts.get("days_left"))
