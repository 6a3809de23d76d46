"""What the non-HTTP probe types share: a host and port, client TLS, what a probe reports, how it fails.

A probe type is a config model (a subclass of ``IntegrationConfig``) and an ``async def probe(integration,
context) -> Answer``. The probe talks to its server with the protocol's client and returns what it found as
``fields`` (tested by ``field:`` conditions); a failure it can name is a ``ProbeFailure`` with an error class.
The runner times the attempt, bounds it with the integration's timeout and judges conditions and latency, exactly
as for HTTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, StrictStr

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.auth import secret
from monitoring_pipeline.integrations.conditions import ConditionResult
from monitoring_pipeline.integrations.config import IntegrationConfig, Tls

HOST_EXPECTED = "a host name or IP address, such as db.internal or 10.0.0.5 (no scheme, port or path)"
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_MESSAGE_MAX_CHARS = 300


def _host(value: str) -> str:
    candidate = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if len(value) > 253 or not _HOST.fullmatch(value):
        raise expected(HOST_EXPECTED, repr(value))
    return value


Host = Annotated[StrictStr, AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535)]


def true_means_defaults(value: Any) -> Any:
    """A block a flag may stand for: ``true`` is the block with its defaults, ``false`` none."""
    return {} if value is True else (None if value is False else value)


def optional_secret(name: str | None) -> str | None:
    """The secret in variable ``name``, when the configuration names one (``AuthError`` when it is unset)."""
    return secret(name) if name else None


class ClientTls(Tls):
    """TLS for a protocol client: ``verify`` the certificate chain and host name, against ``ca_file`` if given."""

    server_name: Host | None = None  # the name the certificate must carry (SNI), when not the host itself


OptionalTls = Annotated[ClientTls | None, BeforeValidator(true_means_defaults)]  # `tls: true`: TLS, verified
CLIENT_TLS_NOT_FROM_DEFAULTS = ("tls",)  # a client's `tls` switches TLS on: each integration says so itself


class NetworkIntegration(IntegrationConfig):
    """A server reached at ``host:port``."""

    host: Host
    port: Port
    SCHEME: ClassVar[str] = ""

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def target(self) -> str:
        return f"{self.SCHEME or self.type}://{self.address}"


@dataclass(frozen=True)
class Answer:
    """What a probe found: values for ``field:`` conditions, the certificate's days left, conditions the probe
    judged itself (a TCP ``expect``)."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    tls_days_left: float | None = None
    conditions: tuple[ConditionResult, ...] = ()


class ProbeFailure(Exception):
    """A failure the probe can name: ``error_class`` (connect, tls, auth, protocol, server, ...) and a message
    safe to store (never a secret)."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message[:_MESSAGE_MAX_CHARS]


class ProbeContext:
    """Shared by every probe of a runner: client SSL contexts (one per TLS setting) and the clock."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.now = now
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}

    def ssl_context(self, tls: Tls) -> ssl.SSLContext:
        key = (tls.verify, str(tls.ca_file) if tls.ca_file else None)
        context = self._contexts.get(key)
        if context is None:
            try:
                context = ssl.create_default_context(cafile=key[1])
            except (OSError, ssl.SSLError, ValueError) as error:
                raise ProbeFailure("tls", f"tls.ca_file {tls.ca_file} cannot be loaded "
                                          f"({type(error).__name__})") from None
            if not tls.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._contexts[key] = context
        return context


def failure_class(error: BaseException) -> tuple[str, str] | None:
    """The error class and message of the failures every client shares (refused, unreachable, TLS, reset)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return "tls", describe(seen)
        if isinstance(seen, TimeoutError):
            return "timeout", describe(seen)
        if isinstance(seen, ConnectionRefusedError):
            return "connect", describe(seen)
        if isinstance(seen, ConnectionResetError | ConnectionAbortedError | BrokenPipeError
                      | asyncio.IncompleteReadError):
            return "protocol", describe(seen)
        if isinstance(seen, OSError) and seen.errno is not None:
            return "connect", describe(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def describe(error: BaseException) -> str:
    text = str(error).strip()
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:_MESSAGE_MAX_CHARS]


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret replaced: client libraries may quote a connection URL in their messages."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


def certificate_facts(der: bytes | None, now: datetime, server_name: str | None = None) -> dict[str, Any]:
    """Days left, issuer, subject, names and (given ``server_name``) whether it names that host."""
    if not der:
        return {}
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    names = _subject_names(certificate)
    facts: dict[str, Any] = {
        "days_left": round((certificate.not_valid_after_utc - now).total_seconds() / 86400.0, 3),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "issuer": certificate.issuer.rfc4514_string(),
        "subject": certificate.subject.rfc4514_string(),
        "names": names,
    }
    if server_name is not None:
        facts["hostname_match"] = hostname_matches(names, server_name)
    return facts


def _subject_names(certificate: Any) -> list[str]:
    from cryptography import x509

    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [attribute.value for attribute in certificate.subject.get_attributes_for_oid(x509.OID_COMMON_NAME)]
    return [*extension.get_values_for_type(x509.DNSName),
            *(str(address) for address in extension.get_values_for_type(x509.IPAddress))]


def hostname_matches(names: list[str], host: str) -> bool:
    """RFC 6125 matching: exact (case-insensitive) or a wildcard for the leftmost label only; IPs exactly."""
    host = host.rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for name in names:
        name = name.rstrip(".").lower()
        if address is not None:
            try:
                if ipaddress.ip_address(name) == address:
                    return True
            except ValueError:
                continue
            continue
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def plain(value: Any) -> Any:
    """A value a condition can compare and JSON can store: numbers, text, booleans, lists and mappings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)
