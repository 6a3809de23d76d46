"""The integrations file: the shipped examples load; every mistake names the file, the field and the form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitoring_pipeline.integrations.config import IntegrationConfigError, load_integrations

PROJECT = Path(__file__).resolve().parents[2]
VALID = """
probing: {concurrency: 20}
defaults: {interval: 30s, timeout: 5s, retries: {attempts: 2}}
integrations:
  - name: stripe
    category: payments
    url: ${BASE_URL:-http://127.0.0.1:9}/stripe
    auth: {type: bearer, token_env: STRIPE_TOKEN}
    retries: {backoff: 100ms}
    conditions:
      - status: 2xx
      - json: $.status.indicator
        equals: none
    maintenance:
      - {weekdays: [sun], start: "03:00", duration: 1h, timezone: Europe/Berlin}
    failover: {group: cards, role: primary, weight: 3}
  - name: adyen
    category: payments
    url: http://127.0.0.1:9/adyen
    depends_on: stripe
    failover: {group: cards, role: secondary}
"""


def write(tmp_path, text):
    path = tmp_path / "integrations.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_with_defaults_and_substitution(tmp_path):
    config = load_integrations(write(tmp_path, VALID), environ={"BASE_URL": "http://10.1.1.1:8080"})
    stripe, adyen = config.integrations
    assert stripe.url == "http://10.1.1.1:8080/stripe"
    assert (stripe.interval, stripe.timeout, stripe.retries.attempts, stripe.retries.backoff) == (30, 5, 2, 0.1)
    assert [c.name for c in stripe.effective_conditions] == ["status in 2xx", "$.status.indicator == 'none'"]
    assert [c.name for c in adyen.effective_conditions] == ["status in 2xx"]  # the default condition
    assert adyen.depends_on == ("stripe",)
    assert [i.name for i in config.failover_groups()["cards"]] == ["stripe", "adyen"]
    assert config.probing.concurrency == 20
    assert load_integrations(write(tmp_path, VALID), environ={}).integrations[0].url == "http://127.0.0.1:9/stripe"


def test_the_shipped_example_loads_empty_and_every_commented_entry_is_valid(tmp_path):
    example = PROJECT / "config" / "integrations.yaml"
    assert load_integrations(example).integrations == ()
    text = example.read_text().replace("integrations: []", "integrations:")
    enabled = load_integrations(write(tmp_path, re.sub(r"^#  ", "  ", text, flags=re.M)))
    assert {i.category for i in enabled.integrations} >= {
        "payments", "messaging", "marketing", "e_commerce", "analytics", "infrastructure", "ai"}


def test_the_demo_file_loads_against_a_sandbox_url():
    config = load_integrations(PROJECT / "config" / "integrations.demo.yaml",
                               environ={"SANDBOX_URL": "http://127.0.0.1:8766"})
    names = {i.name for i in config.integrations}
    assert {"stripe", "paypal", "twilio", "mailchimp", "hubspot", "clearbit", "openai", "anthropic"} <= names
    llm = {i.name: i.failover.role for i in config.failover_groups()["llm"]}
    assert llm == {"openai": "primary", "anthropic": "secondary"}
    hubspot = config.by_name()["hubspot"]
    assert hubspot.auth.client_id == "demo-client" and hubspot.auth.client_secret_env == "SANDBOX_OAUTH_CLIENT_SECRET"


@pytest.mark.parametrize(
    ("entry", "field", "expected"),
    [
        ("{name: Stripe, category: p, url: 'http://x'}", "integrations[0] (Stripe).name", "lower-case letters"),
        ("{category: p, url: 'http://x'}", "integrations[0].name", "a value (this key is required)"),
        ("{name: s, category: p, url: 'ftp://x'}", "integrations[0] (s).url", "an http:// or https:// URL"),
        ("{name: s, category: p, url: 'http://x', timeout: 5 minutes}", "integrations[0] (s).timeout",
         "a duration such as 500ms"),
        ("{name: s, category: p, url: 'http://x', method: FETCH}", "integrations[0] (s).method", "one of GET"),
        ("{name: s, category: p, url: 'http://x', conditons: []}", "integrations[0] (s).conditons",
         "a known integration key"),
        ("{name: s, category: p, url: 'http://x', auth: {type: magic}}", "integrations[0] (s).auth",
         "type one of"),
        ("{name: s, category: p, url: 'http://x', auth: {type: bearer, token_env: 'has space'}}",
         "integrations[0] (s).auth.token_env", "the NAME of an environment variable, in upper case"),
        ("{name: s, category: p, url: 'http://x', auth: {type: api_key, header: 'X Key', key_env: K}}",
         "integrations[0] (s).auth.header", "an HTTP header name"),
        ("{name: s, category: p, url: 'http://x', auth: {type: basic, username: 'a:b', password_env: P}}",
         "integrations[0] (s).auth.username", "a user name without ':'"),
        ("{name: s, category: p, url: 'http://x', headers: {'X Client': a}}", "integrations[0] (s).headers.X Client",
         "an HTTP header name"),
        ("{name: s, category: p, url: 'http://x', headers: {X-Client: 'Bj\u00f6rn \u20ac'}}",
         "integrations[0] (s).headers.X-Client", "a header value of latin-1 text"),
        ("{name: s, category: p, url: 'http://x', headers: {X-Client: \"two\\nlines\"}}",
         "integrations[0] (s).headers.X-Client", "without line breaks"),
        ("{name: s, category: p, url: 'http://x', headers: {X-Client: 'trailing '}}",
         "integrations[0] (s).headers.X-Client", "leading or trailing spaces"),
        ("{name: s, category: p, url: 'http://x', body: {since: 2026-01-01}}", "integrations[0] (s).body",
         "a body of JSON values"),
        ("{name: s, category: p, url: 'http://x', tls: {ca_file: /nonexistent/ca.pem}}",
         "integrations[0] (s).tls.ca_file", "a readable PEM file of CA certificates"),
        ("{name: s, category: p, url: 'http://x', conditions: [{json: '$.[[', equals: 1}]}",
         "integrations[0] (s).conditions[0].json", "a JSONPath"),
        ("{name: s, category: p, url: 'http://x', conditions: [{status: 200, json: '$.a'}]}",
         "integrations[0] (s).conditions[0]", "exactly one of status"),
        ("{name: s, category: p, url: 'http://x', maintenance: [{cron: 'nope', duration: 1h}]}",
         "integrations[0] (s).maintenance[0].cron", "a 5-field cron expression"),
        ("{name: s, category: p, url: 'http://x', maintenance: [{weekdays: [sun], start: '3am', duration: 1h}]}",
         "integrations[0] (s).maintenance[0].start", "HH:MM"),
        ("{name: s, category: p, url: 'http://x', maintenance: [{cron: '0 3 * * *', duration: 1h, timezone: Mars}]}",
         "integrations[0] (s).maintenance[0].timezone", "an IANA time zone"),
        ("{name: s, category: p, url: 'http://x', latency: {degraded: 2s, down: 1s}}", "integrations[0] (s).latency",
         "latency.degraded shorter than latency.down"),
        ("{name: s, category: p, url: 'http://x', thresholds: {failure: 0}}",
         "integrations[0] (s).thresholds.failure", "at least 1"),
        ("{name: s, category: p, url: 'http://x', sla: 101}", "integrations[0] (s).sla", "at most 100"),
        ("{name: s, category: p, url: 'http://x', failover: {group: g, role: tertiary}}",
         "integrations[0] (s).failover.role", "one of primary or secondary"),
        ("{name: s, category: p, url: 'http://x', timeout: 30s, retries: {attempts: 3}}",
         "integrations[0] (s).timeout", "within probing.tick_budget"),
        ("{name: s, category: p, url: 'http://x', depends_on: [nobody]}", "integrations[0] (s).depends_on",
         "names of integrations in this file"),
        ("{name: s, category: p, url: '${NOT_SET_ANYWHERE}/x'}", "integrations[0].url",
         "environment variable NOT_SET_ANYWHERE to be set"),
    ],
)
def test_each_mistake_names_file_field_and_expected_form(tmp_path, entry, field, expected):
    path = write(tmp_path, f"integrations:\n  - {entry}\n")
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path, environ={})
    assert raised.value.file == path
    assert raised.value.field == field
    assert expected in raised.value.expected
    assert str(path) in str(raised.value) or "integrations.yaml" in str(raised.value)


@pytest.mark.parametrize(
    ("auth", "key", "use"),
    [
        ("{type: bearer, token: sk_live_51abcdef}", "token", "token_env"),
        ("{type: basic, username: u, password: hunter2-secret}", "password", "password_env"),
        ("{type: api_key, api_key: ak_live_secret}", "api_key", "key_env"),
        ("{type: oauth2, token_url: 'http://x/t', client_id: c, client_secret: cs_secret_value}", "client_secret",
         "client_secret_env"),
        ("{type: oauth2, token_url: 'http://x/t', client_id: c, secret: cs_secret_value}", "secret",
         "client_secret_env"),
        ("{type: bearer, secret: sk_live_51abcdef}", "secret", "token_env"),
        ("{type: api_key, key: ak_live_secret}", "key", "key_env"),
        ("{password: hunter2-secret}", "password", "password_env"),  # no type yet: the field of any type
    ],
)
def test_a_secret_in_the_file_is_refused_and_never_repeated(tmp_path, auth, key, use):
    path = write(tmp_path, f"integrations:\n  - {{name: s, category: p, url: 'http://x', auth: {auth}}}\n")
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path)
    message = str(raised.value)
    assert raised.value.field == f"integrations[0] (s).auth.{key}"
    assert "put it in an environment variable and name that variable with " f"`{use}: NAME_OF_VARIABLE`" in message
    secret = auth.split(f"{key}: ")[1].rstrip("}")
    assert secret not in message


def test_credential_headers_belong_in_auth(tmp_path):
    path = write(tmp_path, "integrations:\n  - {name: s, category: p, url: 'http://x', "
                           "headers: {Authorization: 'Bearer abc'}}\n")
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path)
    assert raised.value.field == "integrations[0] (s).headers.Authorization"
    assert "Bearer abc" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("integrations: [{name: a, category: p, url: 'http://x'}, {name: a, category: p, url: 'http://y'}]",
         "integrations[1] (a).name", "a name used once"),
        ("integrations:\n  - {name: a, category: p, url: 'http://x', depends_on: b}\n"
         "  - {name: b, category: p, url: 'http://y', depends_on: a}", "integrations[0] (a).depends_on",
         "dependencies without a cycle"),
        ("probing: {tick_budget: 2m}", "probing.tick_budget", "of at most 50"),
        ("probing: {report_every: 0}", "probing.report_every", "a duration of at least 1m"),
        ("probing: {report_every: 30s}", "probing.report_every", "a duration of at least 1m"),
        ("probing: {concurency: 3}", "probing.concurency", "no such key"),
        ("surprise: 1", "surprise", "only the keys probing, defaults, integrations"),
        ("integrations: {name: a}", "integrations", "a list of integrations"),
        ("integrations: [1]", "integrations[0]", "a mapping of integration fields"),
        ("call_costs: {dnb: -1}", "call_costs.dnb", "a cost per call >= 0"),
        ("integrations: [\n  - {name: a", "line 2", "valid YAML"),
    ],
)
def test_file_level_mistakes(tmp_path, text, field, expected):
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(write(tmp_path, text))
    assert raised.value.field == field
    assert expected in raised.value.expected


def test_a_missing_file_says_which_variable_points_at_it(tmp_path):
    with pytest.raises(IntegrationConfigError, match="INTEGRATIONS_CONFIG"):
        load_integrations(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("auth", "pasted"),
    [
        ("{type: bearer, token_env: sk_live_51Habcdef}", "sk_live_51Habcdef"),
        ("{type: basic, username: u, password_env: hunter2_secret}", "hunter2_secret"),
        ("{type: api_key, key_env: ak_9f8e7d6c}", "ak_9f8e7d6c"),
        ("{type: oauth2, token_url: 'http://x/t', client_id: c, client_secret_env: cs_Live_0a1b2c}", "cs_Live_0a1b2c"),
    ],
)
def test_a_variable_name_must_be_upper_case_so_a_pasted_secret_is_refused_unrepeated(tmp_path, auth, pasted):
    path = write(tmp_path, f"integrations:\n  - {{name: s, category: p, url: 'http://x', auth: {auth}}}\n")
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path)
    assert raised.value.field.startswith("integrations[0] (s).auth.") and raised.value.field.endswith("_env")
    assert "the NAME of an environment variable, in upper case (e.g. STRIPE_TOKEN)" in str(raised.value)
    assert pasted not in str(raised.value)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("url: 'https://monitor:pa55w0rd-secret@api.example.com/health?x=1'", "integrations[0] (s).url"),
        ("url: 'https://api.example.com', auth: {type: oauth2, token_url: 'https://monitor:pa55w0rd-secret@auth.example."
         "com/token', client_id: c, client_secret_env: CS}", "integrations[0] (s).auth.token_url"),
    ],
)
def test_credentials_in_a_url_are_refused_and_never_repeated(tmp_path, entry, field):
    path = write(tmp_path, f"integrations:\n  - {{name: s, category: p, {entry}}}\n")
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path)
    assert raised.value.field == field
    assert "credentials go in auth" in raised.value.expected
    assert "pa55w0rd-secret" not in str(raised.value) and "monitor" not in str(raised.value)


def test_a_latin_1_header_value_and_a_loadable_ca_file_are_accepted(tmp_path):
    from datetime import UTC, datetime, timedelta

    from monitoring_pipeline.fakes.tls import write_self_signed_certificate

    cert, _ = write_self_signed_certificate(tmp_path / "tls", not_after=datetime.now(UTC) + timedelta(days=30))
    path = write(tmp_path, f"integrations:\n  - {{name: s, category: p, url: 'https://x', "
                           f"headers: {{X-Client: 'M\u00fcller GmbH'}}, tls: {{ca_file: '{cert}'}}}}\n")
    (integration,) = load_integrations(path).integrations
    assert integration.headers == {"X-Client": "M\u00fcller GmbH"} and integration.tls.ca_file == cert
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(IntegrationConfigError, match="which cannot be loaded") as raised:
        load_integrations(write(tmp_path, f"integrations:\n  - {{name: s, category: p, url: 'https://x', "
                                          f"tls: {{ca_file: '{not_pem}'}}}}\n"))
    assert raised.value.field == "integrations[0] (s).tls.ca_file"
