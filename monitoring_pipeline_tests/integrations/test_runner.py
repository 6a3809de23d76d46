"""Probing real endpoints on the sandbox: outcomes, error classes, isolation of slow endpoints, retries, auth, TLS."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitoring_pipeline.fakes.sandbox.admin_client import SandboxAdmin
from monitoring_pipeline.fakes.sandbox.server import SandboxServer
from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline_tests.integrations.conftest import integrations, one

SECRET = "s3cr3t-value-never-shown"


def probe(*configs, concurrency=10):
    return ProbeRunner(concurrency=concurrency).run(list(configs), 60)


def test_outcomes_and_error_classes_of_a_mixed_pass(tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("ok", body={"status": "ok", "queue": 3})
    sandbox_admin.put_endpoint("slow", latency_ms=400)
    sandbox_admin.put_endpoint("broken", status=503, body={"error": "maintenance"})
    sandbox_admin.put_endpoint("hang", fault="hang")
    sandbox_admin.put_endpoint("reset", fault="reset")
    sandbox_admin.put_endpoint("garbled", fault="malformed")
    sandbox_admin.put_endpoint("wrong", body={"status": "degraded"})
    url = sandbox.url
    config = integrations(tmp_path, [
        {"name": "ok", "url": f"{url}/ok", "conditions": [{"status": 200}, {"json": "$.queue", "lt": 10}]},
        {"name": "slow", "url": f"{url}/slow", "latency": {"degraded": "200ms"}},
        {"name": "broken", "url": f"{url}/broken"},
        {"name": "hang", "url": f"{url}/hang", "timeout": "1s"},
        {"name": "reset", "url": f"{url}/reset"},
        {"name": "garbled", "url": f"{url}/garbled", "conditions": [{"json": "$.status", "exists": True}]},
        {"name": "wrong", "url": f"{url}/wrong", "conditions": [{"json": "$.status", "equals": "ok"}]},
        {"name": "refused", "url": "http://127.0.0.1:9/nothing-listens"},
        {"name": "unknown", "url": f"{url}/no-such-endpoint"},
    ])
    results = {r.integration: r for r in probe(*config.integrations)}
    assert results["ok"].outcome == "up" and [c.passed for c in results["ok"].conditions] == [True, True]
    assert results["slow"].outcome == "degraded" and results["slow"].latency_ms >= 400
    assert (results["broken"].outcome, results["broken"].error_class, results["broken"].status_code) == (
        "failed", "http_status", 503)
    assert (results["hang"].error_class, results["hang"].status_code) == ("timeout", None)
    assert results["reset"].error_class == "protocol"
    assert results["garbled"].error_class == "body"
    assert results["wrong"].error_class == "condition"
    assert results["wrong"].conditions[0].actual == "degraded"
    assert results["refused"].error_class == "connect"
    assert results["unknown"].status_code == 404


def test_one_hanging_endpoint_does_not_hold_up_the_others(tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("hang", fault="hang")
    sandbox_admin.bulk("fast", 20, latency_ms=[1, 20])
    entries = [{"name": "hang", "url": f"{sandbox.url}/hang", "timeout": "2s"}]
    entries += [{"name": f"fast_{n:04d}", "url": f"{sandbox.url}/fast-{n:04d}"} for n in range(20)]
    config = integrations(tmp_path, entries)
    # Two workers: the hanging probe holds one; the other probes the twenty fast endpoints meanwhile.
    results = ProbeRunner(concurrency=2).run(list(config.integrations), 60)
    assert [r.integration for r in results][-1] == "hang"  # finished last, after every fast probe
    assert all(r.outcome == "up" for r in results[:-1]) and len(results) == 21
    assert results[-1].error_class == "timeout"


def test_failures_are_retried_with_backoff_before_they_count(tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("flaky", status=502)
    config = one(tmp_path, url=f"{sandbox.url}/flaky",
                 retries={"attempts": 2, "backoff": "100ms", "max_backoff": "150ms"})
    waits = []

    async def record(seconds):
        waits.append(seconds)

    (result,) = ProbeRunner(sleep=record).run([config], 60)
    assert (result.outcome, result.attempts) == ("failed", 3)
    assert waits == [0.1, 0.15]  # exponential, capped
    assert sandbox_admin.stats()["endpoints"]["flaky"]["requests"] == 3


def test_a_probe_that_starts_too_late_for_the_budget_is_left_for_the_next_pass(tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("ok")
    config = one(tmp_path, url=f"{sandbox.url}/ok", timeout="5s")
    assert ProbeRunner().run([config], time_budget=2) == []
    assert sandbox_admin.stats()["total"] == 0


@pytest.mark.parametrize(
    ("behaviour", "auth", "environment"),
    [
        ({"auth": "bearer", "auth_token": SECRET}, {"type": "bearer", "token_env": "PROBE_TOKEN"},
         {"PROBE_TOKEN": SECRET}),
        ({"auth": "basic", "auth_username": "monitor", "auth_password": SECRET},
         {"type": "basic", "username": "monitor", "password_env": "PROBE_PASSWORD"}, {"PROBE_PASSWORD": SECRET}),
        ({"auth": "api_key", "auth_header": "X-Api-Key", "auth_token": SECRET},
         {"type": "api_key", "header": "X-Api-Key", "key_env": "PROBE_KEY"}, {"PROBE_KEY": SECRET}),
    ],
)
def test_auth_kinds_with_secrets_from_the_environment(tmp_path, sandbox, sandbox_admin, monkeypatch, behaviour,
                                                      auth, environment):
    sandbox_admin.put_endpoint("private", **behaviour)
    config = one(tmp_path, url=f"{sandbox.url}/private", auth=auth)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    (result,) = probe(config)
    assert result.outcome == "up", result.error
    for name in environment:
        monkeypatch.setenv(name, "wrong-value")
    (refused,) = probe(config)
    assert (refused.status_code, refused.error_class) == (401, "http_status")
    for name in environment:
        monkeypatch.delenv(name)
    (unset,) = probe(config)
    assert unset.error_class == "auth" and list(environment)[0] in unset.error
    assert SECRET not in repr([result, refused, unset])


def test_oauth2_client_credentials_token_is_cached_between_passes(tmp_path, sandbox, sandbox_admin, monkeypatch):
    sandbox_admin.put_oauth_client("probe-client", SECRET)
    sandbox_admin.put_endpoint("crm", auth="oauth2")
    monkeypatch.setenv("CRM_CLIENT_SECRET", SECRET)
    config = one(tmp_path, url=f"{sandbox.url}/crm", auth={
        "type": "oauth2", "token_url": f"{sandbox.url}/oauth/token", "client_id": "probe-client",
        "client_secret_env": "CRM_CLIENT_SECRET"})
    runner = ProbeRunner()
    first = runner.run([config], 60)
    second = runner.run([config], 60)
    assert [r.outcome for r in first + second] == ["up", "up"]
    assert runner.tokens.fetches == 1
    monkeypatch.setenv("CRM_CLIENT_SECRET", "not-the-secret")
    (refused,) = ProbeRunner().run([config], 60)
    assert refused.error_class == "auth" and "401" in refused.error
    assert SECRET not in repr(first + second + [refused])


@pytest.fixture
def tls_sandbox(tmp_path):
    """The sandbox over HTTPS with a certificate that expires in ten days."""
    cert, key = write_self_signed_certificate(tmp_path / "tls", not_after=datetime.now(UTC) + timedelta(days=10))
    with SandboxServer(tls_cert=cert, tls_key=key) as server:
        yield server, cert


def test_tls_certificate_days_left_read_from_the_connection(tmp_path, tls_sandbox):
    server, cert = tls_sandbox
    with SandboxAdmin(server.url, verify=ssl.create_default_context(cafile=str(cert))) as admin:
        admin.put_endpoint("secure")
    trusted = one(tmp_path, url=f"{server.url}/secure", tls={"ca_file": str(cert)},
                  conditions=[{"status": 200}, {"tls_days_left": 14}])
    (result,) = probe(trusted)
    assert 9.9 < result.tls_days_left <= 10.0
    assert (result.outcome, result.error_class) == ("failed", "tls")
    assert result.conditions[1].name == "tls_days_left >= 14" and not result.conditions[1].passed
    unverified = integrations(tmp_path, [{"name": "unverified", "url": f"{server.url}/secure",
                                          "tls": {"verify": False}, "conditions": [{"tls_days_left": 7}]}])
    (result,) = probe(*unverified.integrations)
    assert result.outcome == "up" and 9.9 < result.tls_days_left <= 10.0
    untrusted = integrations(tmp_path, [{"name": "untrusted", "url": f"{server.url}/secure"}])
    (result,) = probe(*untrusted.integrations)
    assert result.error_class == "tls"


def test_a_secret_with_a_line_break_is_refused_naming_only_its_variable(tmp_path, sandbox, sandbox_admin,
                                                                        monkeypatch):
    sandbox_admin.put_endpoint("private", auth="bearer", auth_token=SECRET)
    sandbox_admin.put_endpoint("keyed", auth="api_key", auth_header="X-Api-Key", auth_token=SECRET)
    config = integrations(tmp_path, [
        {"name": "private", "url": f"{sandbox.url}/private", "auth": {"type": "bearer", "token_env": "PROBE_TOKEN"}},
        {"name": "keyed", "url": f"{sandbox.url}/keyed", "auth": {"type": "api_key", "key_env": "PROBE_KEY"}},
    ])
    monkeypatch.setenv("PROBE_TOKEN", SECRET + "\n")  # as `echo $TOKEN > file` leaves it
    monkeypatch.setenv("PROBE_KEY", SECRET + " ")  # h11 would refuse it, quoting it
    results = {r.integration: r for r in probe(*config.integrations)}
    assert results["private"].error_class == "auth" and "PROBE_TOKEN" in results["private"].error
    assert "line break" in results["private"].error
    assert results["keyed"].error_class == "auth" and "PROBE_KEY" in results["keyed"].error
    assert SECRET not in repr(results)
    assert sandbox_admin.stats()["total"] == 0  # nothing was sent


def test_protocol_errors_about_our_request_never_quote_the_header():
    from monitoring_pipeline.integrations.runner import _message

    # What h11 raises for an illegal header value: it quotes the value.
    error = httpx.LocalProtocolError(f"Illegal header value b'Bearer {SECRET}\\n'")
    assert _message(error) == "LocalProtocolError: invalid header value (not shown)"
    assert _message(httpx.RemoteProtocolError("Server disconnected")) == "RemoteProtocolError: Server disconnected"


def test_a_latin_1_header_value_is_sent_as_latin_1(tmp_path, sandbox, sandbox_admin):
    sandbox_admin.put_endpoint("crm")
    config = one(tmp_path, url=f"{sandbox.url}/crm", headers={"X-Client": "Müller GmbH"})
    (result,) = probe(config)
    assert result.outcome == "up", result.error


def test_oauth2_tokens_are_cached_per_audience_and_secrets_are_form_urlencoded(tmp_path, sandbox, sandbox_admin,
                                                                             monkeypatch):
    secret = "p:ss%41w+rd=" + SECRET  # RFC 6749 2.3.1: form-urlencoded before the Basic encoding
    sandbox_admin.put_oauth_client("tenant-client", secret)
    for name in ("orders", "billing", "billing_eu"):
        sandbox_admin.put_endpoint(name, auth="oauth2")
    monkeypatch.setenv("TENANT_SECRET", secret)

    def oauth(audience):
        return {"type": "oauth2", "token_url": f"{sandbox.url}/oauth/token", "client_id": "tenant-client",
                "client_secret_env": "TENANT_SECRET", "audience": audience}

    config = integrations(tmp_path, [
        {"name": "orders", "url": f"{sandbox.url}/orders", "auth": oauth("https://orders.example.com")},
        {"name": "billing", "url": f"{sandbox.url}/billing", "auth": oauth("https://billing.example.com")},
        {"name": "billing_eu", "url": f"{sandbox.url}/billing_eu", "auth": oauth("https://billing.example.com")},
    ])
    runner = ProbeRunner(concurrency=1)  # one after the other: the third finds the second's token cached
    first = runner.run(list(config.integrations), 60)
    assert [r.outcome for r in first] == ["up", "up", "up"], [r.error for r in first]
    assert sandbox_admin.stats()["oauth_token_requests"] == {"issued": 2}  # one token per audience
    second = runner.run(list(config.integrations), 60)
    assert [r.outcome for r in second] == ["up", "up", "up"]
    assert sandbox_admin.stats()["oauth_token_requests"] == {"issued": 2}  # both reused
    assert secret not in repr(first + second)
