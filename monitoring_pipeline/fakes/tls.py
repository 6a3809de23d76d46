"""A self-signed certificate for a fake served over HTTPS, valid until a chosen instant (certificate-expiry tests)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write_self_signed_certificate(
    directory: Path | str,
    *,
    common_name: str = "127.0.0.1",
    not_after: datetime,
    not_before: datetime | None = None,
    stem: str = "sandbox",
) -> tuple[Path, Path]:
    """Write ``<stem>-cert.pem`` and ``<stem>-key.pem`` (0600) into ``directory``; returns (cert, key).

    The certificate names IP 127.0.0.1 and DNS localhost (and ``common_name``), so a client that trusts
    the certificate file itself (as its CA) verifies the sandbox. ``not_before`` defaults to an hour
    before now, or before ``not_after`` for a certificate that has already expired. Naive datetimes are UTC.
    """
    not_after = _utc(not_after)
    not_before = _utc(not_before) if not_before is not None else min(datetime.now(UTC), not_after) - timedelta(hours=1)
    if not_before >= not_after:
        raise ValueError("not_before must be earlier than not_after")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_alt_names(common_name)), critical=False)
        # Its own CA, so the certificate file can be given to a client as the trust anchor.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    return cert_path, key_path


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _alt_names(common_name: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    try:
        address = ipaddress.ip_address(common_name)
    except ValueError:
        if common_name != "localhost":
            names.append(x509.DNSName(common_name))
    else:
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    return names
