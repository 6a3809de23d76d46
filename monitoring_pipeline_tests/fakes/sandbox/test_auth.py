"""Endpoint authentication (bearer, basic, API key, OAuth2 client credentials) against the real server."""

from __future__ import annotations

import logging

import httpx
import pytest

from monitoring_pipeline.fakes.sandbox import SandboxAdmin, SandboxServer
from monitoring_pipeline_tests.fakes.sandbox.conftest import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, START, FakeClock

GRANT = {"grant_type": "client_credentials"}


def token(http: httpx.Client, client_id: str = OAUTH_CLIENT_ID, secret: str = OAUTH_CLIENT_SECRET) -> str:
    response = http.post("/oauth/token", data=GRANT, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def assert_unauthorized(response: httpx.Response, challenge: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    if challenge is not None:
        assert response.headers["www-authenticate"].startswith(challenge)


def test_bearer(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("api", auth="bearer", auth_token="tok-123")
    assert http.get("/api", headers={"Authorization": "Bearer tok-123"}).json() == {"status": "ok"}
    assert http.get("/api/sub", headers={"Authorization": "bearer tok-123"}).status_code == 200
    assert_unauthorized(http.get("/api"), "Bearer")
    assert_unauthorized(http.get("/api", headers={"Authorization": "Bearer tok-1234"}), "Bearer")
    assert_unauthorized(http.get("/api", headers={"Authorization": "Basic dG9rLTEyMw=="}), "Bearer")
    assert admin.stats()["endpoints"]["api"]["by_status"] == {"200": 2, "401": 3}


def test_basic(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("api", auth="basic", auth_username="probe", auth_password="pässword")
    assert http.get("/api", auth=("probe", "pässword")).status_code == 200
    assert_unauthorized(http.get("/api", auth=("probe", "password")), "Basic")
    assert_unauthorized(http.get("/api", auth=("other", "pässword")), "Basic")
    assert_unauthorized(http.get("/api", headers={"Authorization": "Basic !!!"}), "Basic")
    assert_unauthorized(http.get("/api"), "Basic")


def test_api_key_in_a_chosen_header(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("clearbit", auth="api_key", auth_header="X-Api-Key", auth_token="demo-api-key")
    assert http.get("/clearbit", headers={"x-api-key": "demo-api-key"}).status_code == 200
    assert_unauthorized(http.get("/clearbit", headers={"X-Api-Key": "wrong"}))
    assert_unauthorized(http.get("/clearbit", headers={"Authorization": "Bearer demo-api-key"}))
    assert http.get("/clearbit").json()["detail"] == "missing X-Api-Key header"


def test_oauth2_client_credentials_flow(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("hubspot", auth="oauth2")
    assert_unauthorized(http.get("/hubspot"), "Bearer")
    response = http.post("/oauth/token", data=GRANT, auth=(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and len(body["access_token"]) >= 32
    assert http.get("/hubspot", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    # Client id and secret may also come as form fields.
    form = {**GRANT, "client_id": OAUTH_CLIENT_ID, "client_secret": OAUTH_CLIENT_SECRET}
    second = http.post("/oauth/token", data=form).json()["access_token"]
    assert second != body["access_token"]
    assert http.get("/hubspot", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    refused = http.get("/hubspot", headers={"Authorization": "Bearer made-up"})
    assert_unauthorized(refused)
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert admin.stats()["oauth_token_requests"] == {"issued": 2}


def test_oauth2_basic_credentials_are_form_urlencoded_as_rfc_6749_says(admin: SandboxAdmin,
                                                                      http: httpx.Client) -> None:
    from urllib.parse import quote_plus

    secret = "a:b%41c+d e"
    admin.put_oauth_client("encoded-client", secret)
    encoded = http.post("/oauth/token", data=GRANT, auth=("encoded-client", quote_plus(secret, safe="")))
    assert encoded.status_code == 200, encoded.text
    raw = http.post("/oauth/token", data=GRANT, auth=("encoded-client", secret))  # %41 and + decode otherwise
    assert raw.status_code == 401
    assert token(http) != encoded.json()["access_token"]  # plain secrets need no encoding


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        (GRANT, (OAUTH_CLIENT_ID, "wrong"), 401, "invalid_client"),
        (GRANT, ("unknown-client", OAUTH_CLIENT_SECRET), 401, "invalid_client"),
        (GRANT, None, 401, "invalid_client"),
        ({**GRANT, "client_id": OAUTH_CLIENT_ID}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET), 400, "unsupported_grant_type"),
        ({}, (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET), 400, "invalid_request"),
    ],
)
def test_oauth2_token_refusals(http: httpx.Client, data, auth, status, error) -> None:
    response = http.post("/oauth/token", data=data, auth=auth)
    assert response.status_code == status and response.json()["error"] == error
    assert "access_token" not in response.json()


def test_oauth2_tokens_expire(clock: FakeClock, admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("hubspot", auth="oauth2")
    headers = {"Authorization": f"Bearer {token(http)}"}
    clock.now = START + 599
    assert http.get("/hubspot", headers=headers).status_code == 200
    clock.now = START + 600
    assert_unauthorized(http.get("/hubspot", headers=headers))


def test_oauth2_clients_added_through_the_admin_api(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_oauth_client("second-client", "second-secret")
    assert admin.oauth_clients() == [OAUTH_CLIENT_ID, "second-client"]
    admin.put_endpoint("hubspot", auth="oauth2")
    headers = {"Authorization": f"Bearer {token(http, 'second-client', 'second-secret')}"}
    assert http.get("/hubspot", headers=headers).status_code == 200
    admin.reset()  # back to the configured clients
    assert admin.oauth_clients() == [OAUTH_CLIENT_ID]


def test_no_secret_or_token_in_logs_or_admin_answers(sandbox: SandboxServer, admin: SandboxAdmin,
                                                      http: httpx.Client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    admin.put_endpoint("hubspot", auth="oauth2")
    admin.put_endpoint("bearer-api", auth="bearer", auth_token="bearer-token-xyz")
    admin.put_endpoint("basic-api", auth="basic", auth_username="u", auth_password="basic-password-xyz")
    admin.put_oauth_client("added-client", "added-secret-xyz")
    issued = token(http)
    http.get("/hubspot", headers={"Authorization": f"Bearer {issued}"})
    http.post("/oauth/token", data=GRANT, auth=(OAUTH_CLIENT_ID, "wrong-secret-xyz"))
    answers = [
        httpx.get(sandbox.url + "/_sandbox/endpoints").text,
        httpx.get(sandbox.url + "/_sandbox/endpoints/basic-api").text,
        httpx.get(sandbox.url + "/_sandbox/oauth/clients").text,
        httpx.get(sandbox.url + "/_sandbox/stats").text,
    ]
    listing = admin.endpoints()
    assert {entry["name"]: entry["auth_token"] for entry in listing}["bearer-api"] == "**********"
    assert httpx.get(sandbox.url + "/_sandbox/endpoints").json()["oauth_clients"] == ["added-client", OAUTH_CLIENT_ID]
    visible = caplog.text + "".join(answers) + repr(sandbox.state.config)
    for secret in (OAUTH_CLIENT_SECRET, "added-secret-xyz", "wrong-secret-xyz", issued,
                   "bearer-token-xyz", "basic-password-xyz"):
        assert secret not in visible
