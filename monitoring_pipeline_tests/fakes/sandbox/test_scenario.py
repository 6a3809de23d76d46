"""Scenario files: the demo's loads as the spec describes it, and every mistake names file, field and form."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitoring_pipeline.fakes.sandbox import EndpointBehaviour, ScenarioError, load_scenario

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "config" / "sandbox.demo.yaml"
# config/integrations.demo.yaml probes these names: they are part of the interface.
DEMO_NAMES = [
    "stripe", "paypal", "adyen", "twilio", "sendgrid", "mailchimp", "hubspot",
    "shopify", "segment", "aws", "clearbit", "openai", "anthropic",
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> ScenarioError:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.file == path
    assert str(caught.value).startswith(str(path))
    return caught.value


# -- what loads ------------------------------------------------------------------------------------


def test_demo_scenario_has_the_agreed_endpoints_and_behaviours(monkeypatch):
    monkeypatch.delenv("SANDBOX_OAUTH_CLIENT_SECRET", raising=False)
    config = load_scenario(DEMO)
    endpoints = {endpoint.name: endpoint for endpoint in config.endpoints}
    assert list(endpoints) == DEMO_NAMES
    assert endpoints["stripe"].latency_ms == (40, 120)
    assert endpoints["paypal"].latency_ms == (700, 1500)
    assert (endpoints["adyen"].latency_ms, endpoints["adyen"].error_rate) == ((50, 150), 0.05)
    assert endpoints["sendgrid"].latency_ms == (30, 90)
    assert endpoints["segment"].latency_ms == (20, 60) and endpoints["aws"].latency_ms == (20, 80)
    assert endpoints["anthropic"].latency_ms == (200, 500)
    assert endpoints["shopify"].body == {"status": {"indicator": "none", "description": "All Systems Operational"}}
    assert endpoints["hubspot"].auth == "oauth2"
    clearbit = endpoints["clearbit"]
    assert (clearbit.auth, clearbit.auth_header, clearbit.auth_token.get_secret_value()) == (
        "api_key", "X-Api-Key", "demo-api-key",
    )
    assert config.oauth_clients["demo-client"].get_secret_value() == "demo-oauth-secret"
    # Cycles (seconds up / down), read through the phase in force at each offset.
    for name, up, down in (("twilio", 45, 15), ("mailchimp", 480, 120), ("openai", 240, 60)):
        endpoint = endpoints[name]
        assert endpoint.cycle_seconds == up + down
        assert [endpoint.plan_at(t).status for t in (0, up - 0.5, up, up + down - 0.5, up + down)] == [
            200, 200, 503, 503, 200,
        ], name
    assert endpoints["openai"].plan_at(0).latency_ms == (150, 400)
    for name in set(DEMO_NAMES) - {"twilio", "mailchimp", "openai"}:
        assert endpoints[name].phases == () and endpoints[name].status == 200, name


def test_demo_oauth_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SANDBOX_OAUTH_CLIENT_SECRET", "from-env")
    assert load_scenario(DEMO).oauth_clients["demo-client"].get_secret_value() == "from-env"


def test_a_bare_list_of_endpoints_is_a_scenario(tmp_path):
    config = load_scenario(write(tmp_path, """
        - name: a
        - {name: b.v2, status: 204, latency_ms: 5, headers: {Retry-After: 3}}
    """))
    assert [endpoint.name for endpoint in config.endpoints] == ["a", "b.v2"]
    assert config.endpoints[1].headers == {"Retry-After": "3"}
    assert config.oauth_clients == {} and config.token_lifetime_seconds == 3600


def test_secrets_stay_out_of_reprs(tmp_path):
    config = load_scenario(write(tmp_path, """
        oauth_clients: {c1: client-secret-xyz}
        endpoints:
          - {name: a, auth: bearer, auth_token: token-xyz}
          - {name: b, auth: basic, auth_username: u, auth_password: password-xyz}
    """))
    text = repr(config) + str(config) + str(config.endpoints[1].public_view())
    assert "client-secret-xyz" not in text and "token-xyz" not in text and "password-xyz" not in text


# -- what is refused, and how it is explained -----------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="expected an existing scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    error = refusal(tmp_path, "endpoints:\n  - name: a\n   status: 200\n")
    assert error.field == "line 3" and error.expected == "valid YAML"


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("", None, "a mapping with 'endpoints'"),
        ("just text", None, "a mapping with 'endpoints'"),
        ("endpoint: []", "endpoint", "only scenario keys"),
        ("endpoints: {name: a}", "endpoints", "a list"),
        ("endpoints: [5]", "endpoints[0]", "EndpointBehaviour"),
        ("- {status: 200}", "endpoints[0].name", "a value (this key is required)"),
        ("- {name: 'a b'}", "endpoints[0].name (endpoint 'a b')", "an endpoint name of 1-64 letters"),
        ("- {name: _admin}", "endpoints[0].name (endpoint '_admin')", "starting with a letter or digit"),
        ("- {name: oauth}", "endpoints[0].name (endpoint 'oauth')", "other than oauth"),
        ("- {name: a}\n- {name: a}", "endpoints[1].name (endpoint 'a')", "each endpoint name once"),
        ("- {name: a, latncy_ms: 5}", "endpoints[0].latncy_ms", "only endpoint keys"),
        ("- {name: a, status: 99}", "endpoints[0].status (endpoint 'a')", "an HTTP status code from 200 to 599"),
        ("- {name: a, status: '200'}", "endpoints[0].status (endpoint 'a')", "an HTTP status code"),
        ("- {name: a, latency_ms: fast}", "endpoints[0].latency_ms (endpoint 'a')", "milliseconds"),
        ("- {name: a, latency_ms: [300, 100]}", "endpoints[0].latency_ms (endpoint 'a')", "min <= max"),
        ("- {name: a, latency_ms: -1}", "endpoints[0].latency_ms (endpoint 'a')", "milliseconds"),
        ("- {name: a, error_rate: 5}", "endpoints[0].error_rate (endpoint 'a')", "a fraction from 0 to 1"),
        ("- {name: a, error_status: 700}", "endpoints[0].error_status (endpoint 'a')", "an HTTP status code"),
        ("- {name: a, fault: boom}", "endpoints[0].fault (endpoint 'a')", "one of none, reset, hang, malformed"),
        ("- {name: a, auth: jwt}", "endpoints[0].auth (endpoint 'a')", "one of none, bearer, basic, api_key"),
        ("- {name: a, auth: bearer}", "endpoints[0].auth_token (endpoint 'a')", "the token that auth: bearer"),
        ("- {name: a, auth: api_key}", "endpoints[0].auth_token (endpoint 'a')", "the token that auth: api_key"),
        ("- {name: a, auth: basic, auth_username: u}", "endpoints[0].auth_password (endpoint 'a')", "password"),
        ("- {name: a, auth: api_key, auth_token: k, auth_header: 'X Key'}", "endpoints[0].auth_header (endpoint 'a')",
         "an HTTP header name"),
        ("- {name: a, headers: [1]}", "endpoints[0].headers (endpoint 'a')", "a mapping of header name"),
        ("- {name: a, headers: {Content-Length: 3}}", "endpoints[0].headers (endpoint 'a')", "not Content-Type"),
        ("- {name: a, body: 2026-01-01}", "endpoints[0].body (endpoint 'a')", "a JSON value"),
        ("- {name: a, content_type: ''}", "endpoints[0].content_type (endpoint 'a')", "a non-empty string"),
        ("- {name: a, phases: {seconds: 5}}", "endpoints[0].phases (endpoint 'a')", "a list"),
        ("- {name: a, phases: [{status: 503}]}", "endpoints[0].phases[0].seconds (endpoint 'a')", "a value"),
        ("- {name: a, phases: [{seconds: 0}]}", "endpoints[0].phases[0].seconds (endpoint 'a')", "greater than 0"),
        ("- {name: a, phases: [{seconds: 5, name: b}]}", "endpoints[0].phases[0].name", "only phase keys"),
        ("- {name: a, phases: [{seconds: 5, statis: 503}]}", "endpoints[0].phases[0].statis", "only phase keys"),
        ("- {name: a, phases: [{seconds: 5, auth: bearer}]}", "endpoints[0].phases[0].auth_token (endpoint 'a')",
         "the token that auth: bearer"),
        ("- {name: a, phase_epoch: yesterday}", "endpoints[0].phase_epoch (endpoint 'a')", "a date-time"),
        ("oauth_clients: [c]", "oauth_clients", "a mapping"),
        ("oauth_clients: {'c:1': s}", "oauth_clients.c:1", "an OAuth client id"),
        ("oauth_clients: {c: ''}", "oauth_clients.c", "a client secret"),
        ("oauth_clients: {c: {env: SANDBOX_TEST_UNSET_VARIABLE}}", "oauth_clients.c",
         "environment variable SANDBOX_TEST_UNSET_VARIABLE to be set"),
        ("oauth_clients: {c: {variable: X}}", "oauth_clients.c", "a client secret"),
        ("token_lifetime_seconds: 0", "token_lifetime_seconds", "an integer of at least 1"),
        ("seed: lucky", "seed", "an integer"),
    ],
)
def test_bad_scenarios_are_refused_by_field(tmp_path, monkeypatch, text, field, expected):
    monkeypatch.delenv("SANDBOX_TEST_UNSET_VARIABLE", raising=False)
    error = refusal(tmp_path, text)
    assert error.field == field, str(error)
    assert expected in str(error), str(error)


def test_unknown_keys_get_a_suggestion(tmp_path):
    error = refusal(tmp_path, "- {name: a, latncy_ms: 5}")
    assert "did you mean 'latency_ms'?" in str(error)
    assert "did you mean 'endpoints'?" in str(refusal(tmp_path, "endpoint: []"))


def test_a_refused_secret_is_not_echoed(tmp_path):
    error = refusal(tmp_path, "oauth_clients: {'bad id': secret-xyz}")
    assert "secret-xyz" not in str(error)


def test_endpoint_behaviour_in_python_has_the_same_rules():
    with pytest.raises(ValueError, match="auth_token"):
        EndpointBehaviour(name="a", auth="bearer")
    behaviour = EndpointBehaviour(name="a", latency_ms=[100, 300], phases=[{"seconds": 10}, {"seconds": 5}])
    assert behaviour.latency_ms == (100.0, 300.0) and behaviour.cycle_seconds == 15
