"""HTTPS sandboxes with short-lived self-signed certificates: what a client sees of them."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from monitoring_pipeline.fakes.sandbox import SandboxAdmin, SandboxServer, write_self_signed_certificate


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def peer_certificate(url: str, cafile: Path) -> dict:
    """The certificate a verifying client sees (ssl module, hostname checked against 127.0.0.1)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname="127.0.0.1"
    ) as tls:
        return tls.getpeercert()


def test_client_sees_the_chosen_expiry(tmp_path: Path) -> None:
    not_after = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    cert, key = write_self_signed_certificate(tmp_path, not_after=not_after)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with SandboxServer(tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("https://127.0.0.1:")
        seen = peer_certificate(server.url, cert)
        assert ssl.cert_time_to_seconds(seen["notAfter"]) == not_after.timestamp()
        assert ("IP Address", "127.0.0.1") in seen["subjectAltName"] and ("DNS", "localhost") in seen["subjectAltName"]
        with SandboxAdmin(server.url, verify=ssl.create_default_context(cafile=str(cert))) as admin:
            admin.put_endpoint("secure", body={"tls": True})
        context = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(server.url + "/secure", verify=context).json() == {"tls": True}
        localhost = server.url.replace("127.0.0.1", "localhost")
        assert httpx.get(localhost + "/secure", verify=context).status_code == 200


def test_an_expired_certificate_fails_verification(tmp_path: Path) -> None:
    not_after = datetime.now(UTC) - timedelta(days=1)
    cert, key = write_self_signed_certificate(tmp_path, not_after=not_after)
    with SandboxServer(tls_cert=cert, tls_key=key) as server, SandboxAdmin(server.url, verify=False) as admin:
        admin.put_endpoint("secure")
        with pytest.raises(httpx.ConnectError, match="certificate has expired"):
            httpx.get(server.url + "/secure", verify=ssl.create_default_context(cafile=str(cert)))
        assert httpx.get(server.url + "/secure", verify=False).status_code == 200


def test_faults_over_tls(tmp_path: Path) -> None:
    cert, key = write_self_signed_certificate(tmp_path, not_after=datetime.now(UTC) + timedelta(hours=1))
    context = ssl.create_default_context(cafile=str(cert))
    with SandboxServer(tls_cert=cert, tls_key=key) as server, SandboxAdmin(server.url, verify=context) as admin:
        admin.put_endpoint("gone", fault="reset")
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/gone", verify=context)
        admin.put_endpoint("stuck", fault="hang")
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/stuck", verify=context, timeout=0.3)


def test_certificate_window_and_names(tmp_path: Path) -> None:
    not_before = datetime(2030, 1, 1, tzinfo=UTC)
    cert, _ = write_self_signed_certificate(
        tmp_path, common_name="api.sandbox.test", not_before=not_before, not_after=not_before + timedelta(days=1),
        stem="custom",
    )
    assert cert.name == "custom-cert.pem"
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert loaded.not_valid_before_utc == not_before
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.sandbox.test" in names.get_values_for_type(x509.DNSName)
    with pytest.raises(ValueError, match="not_before must be earlier"):
        write_self_signed_certificate(tmp_path, not_after=not_before, not_before=not_before)
