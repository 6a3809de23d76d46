"""``type: dns``: one query to a resolver; reports the response code, the answers, their TTL and the AA flag.

dnspython's asyncio queries are the client (UDP, retried over TCP when the answer is truncated, or TCP only).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, StrictStr

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.config import IntegrationConfig
from monitoring_pipeline.integrations.probes.common import Answer, Host, Port, ProbeContext, ProbeFailure

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "PTR", "CAA")


def _query_name(value: str) -> str:
    import dns.name

    try:
        dns.name.from_text(value)
    except Exception:  # noqa: BLE001 - dnspython raises several kinds for a bad name
        raise expected("a domain name such as example.com", repr(value)) from None
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class DnsIntegration(IntegrationConfig):
    """A DNS name: UP when the resolver answers NOERROR with at least one record (or as the conditions say)."""

    type: Literal["dns"] = "dns"
    query: Annotated[StrictStr, AfterValidator(_query_name)]
    record: Annotated[Literal[RECORD_TYPES], BeforeValidator(_upper)] = "A"  # type: ignore[valid-type]
    resolver: Host | None = None  # default: the first nameserver of /etc/resolv.conf
    port: Port = 53
    transport: Literal["udp", "tcp"] = "udp"  # udp falls back to tcp when the answer is truncated

    FIELDS: ClassVar[tuple[str, ...] | None] = ("rcode", "answers", "ttl", "authoritative")
    DEFAULT_CONDITIONS: ClassVar[tuple[dict[str, Any], ...]] = (
        {"field": "rcode", "equals": "NOERROR"}, {"field": "answers", "length": {"min": 1}})
    KIND: ClassVar[str] = "dns"

    @property
    def target(self) -> str:
        resolver = self.resolver or "system resolver"
        return f"dns://{resolver}:{self.port}/{self.query}?type={self.record}"


async def probe(integration: DnsIntegration, context: ProbeContext) -> Answer:
    import dns.asyncquery
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype

    where = await _resolver_address(integration.resolver)
    record_type = dns.rdatatype.from_text(integration.record)
    query = dns.message.make_query(integration.query, record_type)
    if integration.transport == "tcp":
        response = await dns.asyncquery.tcp(query, where, port=integration.port)
    else:
        response, _ = await dns.asyncquery.udp_with_fallback(query, where, port=integration.port)
    records = [rrset for rrset in response.answer if rrset.rdtype == record_type]
    answers = sorted(_text(rdata) for rrset in records for rdata in rrset)
    return Answer(fields={
        "rcode": dns.rcode.to_text(response.rcode()),
        "answers": answers,
        "ttl": min((rrset.ttl for rrset in records), default=None),
        "authoritative": bool(response.flags & dns.flags.AA),
    })


def _text(rdata: Any) -> str:
    """A record as people write it: TXT strings joined, names without their trailing dot."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", errors="replace")
    return " ".join(token[:-1] if token.endswith(".") and len(token) > 1 else token
                    for token in rdata.to_text().split())


async def _resolver_address(resolver: str | None) -> str:
    if resolver is None:
        return _system_resolver()
    try:
        return str(ipaddress.ip_address(resolver))
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(resolver, None)
    return str(infos[0][4][0])


@functools.cache
def _system_resolver() -> str:
    import dns.resolver

    try:
        return str(dns.resolver.Resolver().nameservers[0])
    except (dns.resolver.NoResolverConfiguration, IndexError):
        raise ProbeFailure("connect", "no resolver configured and none in /etc/resolv.conf") from None
