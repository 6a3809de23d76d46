"""TCP, TLS, DNS, SMTP and gRPC health probed for real, against servers the tests start on loopback: UP with what
each reports, then DOWN for each way it fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring_pipeline.fakes.sandbox.server import SandboxServer
from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline_tests.integrations import servers
from monitoring_pipeline_tests.integrations.conftest import integrations
from monitoring_pipeline_tests.integrations.test_probe_services import assert_down, probe


def test_tcp_connect_send_and_expect(tmp_path, sandbox, closed_port, silent_port):
    port = int(sandbox.url.rsplit(":", 1)[1])
    request = "GET /_sandbox/endpoints HTTP/1.0\r\n\r\n"
    results = probe(
        tmp_path,
        {"name": "connects", "type": "tcp", "host": "127.0.0.1", "port": port},
        {"name": "answers", "type": "tcp", "host": "127.0.0.1", "port": port, "send": request,
         "expect": r"^HTTP/1\.[01] 200"},
        {"name": "wrong_answer", "type": "tcp", "host": "127.0.0.1", "port": port, "send": request,
         "expect": r"^SSH-2\.0"},
        {"name": "closed", "type": "tcp", "host": "127.0.0.1", "port": closed_port},
        # The kernel completes the handshake of a listener that never reads: connecting alone is UP ...
        {"name": "silent_connect", "type": "tcp", "host": "127.0.0.1", "port": silent_port},
        # ... and waiting for an answer that never comes is a timeout.
        {"name": "silent_expect", "type": "tcp", "host": "127.0.0.1", "port": silent_port, "expect": "OK",
         "timeout": "1s"},
    )
    assert results["connects"].outcome == "up" and results["connects"].latency_ms > 0
    assert results["answers"].outcome == "up"
    assert results["answers"].conditions[0].name == r"received ~ /^HTTP/1\.[01] 200/"
    assert_down(results["wrong_answer"], "condition", "SSH-2", "HTTP/1.1 200")
    assert_down(results["closed"], "connect", "Refused")
    assert results["silent_connect"].outcome == "up"
    assert_down(results["silent_expect"], "timeout")


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = write_self_signed_certificate(directory, common_name="localhost",
                                              not_after=datetime.now(UTC) + timedelta(days=30), stem="ok")
    with SandboxServer(tls_cert=cert, tls_key=key) as server:
        yield server, cert


def test_tls_reports_the_certificate_and_fails_on_its_problems(tmp_path, tls_sandbox, sandbox, closed_port):
    server, cert = tls_sandbox
    port = int(server.url.rsplit(":", 1)[1])
    plain_port = int(sandbox.url.rsplit(":", 1)[1])
    tls = {"type": "tls", "host": "127.0.0.1", "port": port}
    results = probe(
        tmp_path,
        {"name": "trusted", **tls, "ca_file": str(cert), "conditions": [
            {"tls_days_left": 14}, {"field": "issuer", "regex": "CN=localhost"},
            {"field": "protocol", "in": ["TLSv1.2", "TLSv1.3"]}, {"field": "names", "contains": "localhost"}]},
        {"name": "defaults", **tls, "ca_file": str(cert), "server_name": "localhost"},
        {"name": "expires_soon", **tls, "ca_file": str(cert), "conditions": [{"tls_days_left": 60}]},
        {"name": "untrusted", **tls},
        {"name": "wrong_name", **tls, "verify": False, "server_name": "api.example.com"},
        {"name": "refused_tls", "type": "tls", "host": "127.0.0.1", "port": plain_port, "verify": False},
        {"name": "closed", "type": "tls", "host": "127.0.0.1", "port": closed_port},
    )
    trusted = results["trusted"]
    assert trusted.outcome == "up", trusted.error
    assert 29 < trusted.tls_days_left <= 30
    assert results["defaults"].outcome == "up"
    assert [c.name for c in results["defaults"].conditions] == ["hostname_match == True", "tls_days_left >= 0"]
    assert_down(results["expires_soon"], "tls", "tls_days_left >= 60")
    assert_down(results["untrusted"], "tls", "certificate verify failed")
    assert_down(results["wrong_name"], "condition", "hostname_match == True", "false")
    assert_down(results["refused_tls"], "tls")
    assert_down(results["closed"], "connect")


def test_an_expired_certificate_is_down_even_unverified(tmp_path):
    cert, key = write_self_signed_certificate(tmp_path, common_name="localhost", stem="expired",
                                              not_after=datetime.now(UTC) - timedelta(days=2))
    with SandboxServer(tls_cert=cert, tls_key=key) as server:
        port = int(server.url.rsplit(":", 1)[1])
        results = probe(tmp_path, {"name": "expired", "type": "tls", "host": "127.0.0.1", "port": port,
                                   "verify": False},
                        {"name": "verified", "type": "tls", "host": "127.0.0.1", "port": port, "ca_file": str(cert)})
    assert_down(results["expired"], "tls", "tls_days_left >= 0")
    assert results["expired"].tls_days_left < -1.9
    assert_down(results["verified"], "tls", "expired")


@pytest.fixture(scope="module")
def dns_server():
    records = {
        ("api.example.test", "A"): ["192.0.2.10", "192.0.2.11"],
        ("example.test", "MX"): ["10 mx1.example.test.", "20 mx2.example.test."],
        ("example.test", "TXT"): ['"v=spf1 -all"'],
    }
    with servers.DnsServer(records, silent=("slow.example.test",)) as server:
        yield server


def test_dns_answers_record_types_and_rcodes(tmp_path, dns_server):
    resolver = {"type": "dns", "resolver": "127.0.0.1", "port": dns_server.port}
    results = probe(
        tmp_path,
        {"name": "a", **resolver, "query": "api.example.test",
         "conditions": [{"field": "answers", "contains": ["192.0.2.10", "192.0.2.11"]}, {"field": "ttl", "ge": 60}]},
        {"name": "defaults", **resolver, "query": "api.example.test"},
        {"name": "mx", **resolver, "query": "example.test", "record": "mx",
         "conditions": [{"field": "answers", "equals": ["10 mx1.example.test", "20 mx2.example.test"]}]},
        {"name": "txt", **resolver, "query": "example.test", "record": "TXT",
         "conditions": [{"field": "answers", "contains": "v=spf1 -all"}]},
        {"name": "moved", **resolver, "query": "api.example.test",
         "conditions": [{"field": "answers", "contains": "203.0.113.5"}]},
        {"name": "nxdomain", **resolver, "query": "gone.example.test"},
        {"name": "no_records", **resolver, "query": "api.example.test", "record": "AAAA"},
        {"name": "silent", **resolver, "query": "slow.example.test", "timeout": "1s"},
    )
    assert results["a"].outcome == "up", results["a"].error
    assert results["a"].conditions[0].actual == '["192.0.2.10", "192.0.2.11"]'
    assert results["defaults"].outcome == "up"
    assert [c.name for c in results["defaults"].conditions] == ["rcode == 'NOERROR'", "answers length in [1, inf]"]
    assert results["mx"].outcome == "up", results["mx"].error
    assert results["txt"].outcome == "up", results["txt"].error
    assert_down(results["moved"], "condition", "contains '203.0.113.5'")
    assert_down(results["nxdomain"], "condition", "rcode == 'NOERROR'", "NXDOMAIN")
    assert_down(results["no_records"], "condition", "answers length")
    assert_down(results["silent"], "timeout")


def test_smtp_banner_extensions_and_starttls(tmp_path, certificate, closed_port, silent_port):
    cert, key = certificate
    with servers.smtp_server(cert, key) as smtp, servers.smtp_server(cert, key, starttls=False) as plain:
        server = {"type": "smtp", "host": smtp.host, "port": smtp.port}
        results = probe(
            tmp_path,
            {"name": "greets", **server, "conditions": [
                {"field": "banner", "regex": "Probe test ESMTP"}, {"field": "starttls_offered", "equals": True},
                {"field": "extensions", "contains": ["starttls", "8bitmime"]}]},
            {"name": "starttls", **server, "starttls": True, "tls": {"ca_file": str(cert)},
             "conditions": [{"tls_days_left": 14}, {"field": "protocol", "regex": "TLSv1"}]},
            {"name": "untrusted", **server, "starttls": True},
            {"name": "not_offered", "type": "smtp", "host": plain.host, "port": plain.port, "starttls": True},
            {"name": "must_offer", "type": "smtp", "host": plain.host, "port": plain.port,
             "conditions": [{"field": "starttls_offered", "equals": True}]},
            {"name": "closed", **server, "port": closed_port},
            {"name": "silent", **server, "port": silent_port, "timeout": "1s"},
        )
    assert results["greets"].outcome == "up", results["greets"].error
    assert results["starttls"].outcome == "up", results["starttls"].error
    assert 29 < results["starttls"].tls_days_left <= 30
    assert_down(results["untrusted"], "tls")
    assert_down(results["not_offered"], "tls", "STARTTLS is not offered")
    assert_down(results["must_offer"], "condition", "starttls_offered == True")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")


def test_grpc_health_check(tmp_path, certificate, closed_port, silent_port):
    cert, key = certificate
    with servers.grpc_health_server() as server, servers.grpc_health_server(cert, key) as secure:
        server.set("orders", False)
        server.set("payments", True)
        target = {"type": "grpc", "host": "127.0.0.1", "port": server.port}
        entries = [
            {"name": "server", **target},
            {"name": "payments", **target, "service": "payments"},
            {"name": "orders", **target, "service": "orders"},
            {"name": "unknown", **target, "service": "no_such_service"},
            {"name": "secure", "type": "grpc", "host": "127.0.0.1", "port": secure.port,
             "tls": {"ca_file": str(cert), "server_name": "localhost"}},
            {"name": "refused_tls", **target, "tls": {"ca_file": str(cert)}},
            {"name": "closed", **target, "port": closed_port},
            {"name": "silent", **target, "port": silent_port, "timeout": "1s"},
        ]
        results = probe(tmp_path, *entries)
        server.set("orders", True)
        # A second pass runs on a new event loop: grpc's asyncio channels must work there too.
        again = probe(tmp_path, entries[2])
    assert results["server"].outcome == "up", results["server"].error
    assert results["server"].conditions[0].name == "status == 'SERVING'"
    assert results["payments"].outcome == "up"
    assert_down(results["orders"], "condition", "status == 'SERVING'", "NOT_SERVING")
    assert_down(results["unknown"], "server", "no_such_service")
    assert results["secure"].outcome == "up", results["secure"].error
    assert_down(results["refused_tls"], "tls")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")
    assert again["orders"].outcome == "up"


def test_a_probe_never_outlives_its_timeout_whatever_the_mix(tmp_path, silent_port, sandbox, sandbox_admin):
    """Hanging servers of every type hold only their own slots: the fast probes all finish first."""
    sandbox_admin.bulk("fast", 10, latency_ms=[1, 5])
    silent = [{"name": f"silent_{kind}", "type": kind, "host": "127.0.0.1", "port": silent_port, "timeout": "2s",
               **({"user": "probe"} if kind in ("postgresql", "mysql", "amqp") else {})}
              for kind in ("postgresql", "mysql", "redis", "amqp", "mqtt", "nats", "grpc", "smtp", "tls")]
    fast = [{"name": f"fast_{n}", "url": f"{sandbox.url}/fast-{n:04d}"} for n in range(10)]
    config = integrations(tmp_path, silent + fast)
    results = ProbeRunner(concurrency=10).run(list(config.integrations), 60)
    order = [r.integration for r in results]
    assert len(results) == 19
    assert set(order[:10]) == {f"fast_{n}" for n in range(10)}  # nine slots hang; the tenth serves them all
    assert all(r.error_class == "timeout" for r in results if r.integration.startswith("silent"))
