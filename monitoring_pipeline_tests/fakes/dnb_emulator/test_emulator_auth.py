"""Token endpoints (v2, v3), bearer checks, envelopes on unknown paths, and the config's validation."""

from __future__ import annotations

import base64

import httpx
import pytest

from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorServer
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import (
    MONITORING,
    TEST_KEY,
    TEST_SECRET,
    assert_error,
    get_token,
    unlimited_config,
)

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    return unlimited_config(**{"second-key": "second-secret"})


@pytest.fixture
def client(emulator: EmulatorServer) -> httpx.Client:
    with httpx.Client(base_url=emulator.url, timeout=10.0) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_v3_token_issues_opaque_bearer_token(client: httpx.Client) -> None:
    response = client.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data=GRANT)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["access_token"].count(".") != 2  # opaque, not a JWT
    listing = client.get(MONITORING, headers=bearer(body["access_token"]))
    assert listing.status_code == 200
    assert listing.json()["messages"]["references"] == []


@pytest.mark.parametrize(
    "auth",
    [(TEST_KEY, "wrong-secret"), ("unknown-key", TEST_SECRET), None],
    ids=["bad-secret", "unknown-key", "no-header"],
)
def test_v3_bad_credentials_answer_oauth_invalid_client(client: httpx.Client, auth: tuple[str, str] | None) -> None:
    response = client.post("/v3/token", auth=auth, data=GRANT)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert "ErrorCode: 00041" in body["error_description"]
    assert "wrong-secret" not in response.text and TEST_SECRET not in response.text


def test_v3_malformed_basic_header_is_invalid_client(client: httpx.Client) -> None:
    response = client.post("/v3/token", headers={"Authorization": "Basic !!notbase64"}, data=GRANT)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_v3_missing_grant_type_is_invalid_request(client: httpx.Client) -> None:
    response = client.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data={})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("Request missing required element: 'grant_type'. ErrorCode: 05007.")


def test_v3_unsupported_grant_type(client: httpx.Client) -> None:
    response = client.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_v2_token_shape_and_use(client: httpx.Client) -> None:
    response = client.post("/v2/token", auth=(TEST_KEY, TEST_SECRET), json=GRANT)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expiresIn"}
    assert body["expiresIn"] == 86400
    assert client.get(MONITORING, headers=bearer(body["access_token"])).status_code == 200


def test_v2_bad_credentials_answer_envelope_00041(client: httpx.Client) -> None:
    response = client.post("/v2/token", auth=(TEST_KEY, "nope"), json=GRANT)
    assert_error(response, 401, "00041")
    assert "nope" not in response.text


@pytest.mark.parametrize("body", [{}, {"grant_type": ""}, None], ids=["empty", "blank", "not-json"])
def test_v2_missing_grant_type_is_10002(client: httpx.Client, body: dict[str, str] | None) -> None:
    if body is None:
        response = client.post("/v2/token", auth=(TEST_KEY, TEST_SECRET), content=b"grant_type=client_credentials")
    else:
        response = client.post("/v2/token", auth=(TEST_KEY, TEST_SECRET), json=body)
    error = assert_error(response, 400, "10002")
    assert error["errorDetails"][0]["parameter"] == "grant_type"


def test_extra_credentials_are_accepted(client: httpx.Client) -> None:
    token = get_token(client, "second-key", "second-secret")
    assert client.get(MONITORING, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer"}, {"Authorization": "Token abc"}],
    ids=["missing", "unknown", "empty", "wrong-scheme"],
)
def test_missing_or_unknown_token_is_00004(client: httpx.Client, headers: dict[str, str]) -> None:
    assert_error(client.get(MONITORING, headers=headers), 401, "00004")


def test_basic_auth_on_api_call_is_00004(client: httpx.Client) -> None:
    response = client.get(MONITORING, headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()})
    assert_error(response, 401, "00004")


def test_token_expires_on_emulator_clock_and_older_tokens_stay_valid(
    client: httpx.Client, emulator: EmulatorServer
) -> None:
    first = get_token(client)
    second = get_token(client)
    assert first != second
    assert client.get(MONITORING, headers=bearer(first)).status_code == 200
    client.post("/_emulator/clock", json={"advance_seconds": 86400})
    assert_error(client.get(MONITORING, headers=bearer(first)), 401, "00040")
    assert_error(client.get(MONITORING, headers=bearer(second)), 401, "00040")
    assert client.get(MONITORING, headers=bearer(get_token(client))).status_code == 200


def test_token_lifetime_is_configurable(emulator_factory) -> None:
    server = emulator_factory(token_lifetime_seconds=60, rate_limit_per_second=None)
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data=GRANT)
        assert response.json()["expires_in"] == 60
        token = response.json()["access_token"]
        http.post("/_emulator/clock", json={"advance_seconds": 59})
        assert http.get(MONITORING, headers=bearer(token)).status_code == 200
        http.post("/_emulator/clock", json={"advance_seconds": 2})
        assert_error(http.get(MONITORING, headers=bearer(token)), 401, "00040")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_path_is_00037_even_without_token(client: httpx.Client, method: str) -> None:
    assert_error(client.request(method, "/v1/monitoring/nothing-here"), 404, "00037")
    assert_error(client.request(method, "/"), 404, "00037")


def test_wrong_method_on_known_path_is_00037(client: httpx.Client) -> None:
    token = get_token(client)
    assert_error(client.put(MONITORING, headers=bearer(token)), 404, "00037")


def test_success_responses_carry_transaction_detail(client: httpx.Client) -> None:
    body = client.get(MONITORING, headers=bearer(get_token(client))).json()
    assert body["transactionDetail"]["transactionID"].startswith("rrt-")
    assert body["transactionDetail"]["inLanguage"] == "en-US"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"token_lifetime_seconds": 0}, "token_lifetime_seconds"),
        ({"rate_limit_per_second": 0}, "rate_limit_per_second"),
        ({"retry_after_seconds": -1}, "retry_after_seconds"),
        ({"max_notifications_cap": 0}, "max_notifications_cap"),
        ({"pull_expiry_seconds": 0}, "pull_expiry_seconds"),
        ({"replay_window_seconds": float("nan")}, "replay_window_seconds"),
        ({"batch_apply_delay_seconds": -0.1}, "batch_apply_delay_seconds"),
        ({"extra_credentials": {"k": ""}}, "extra_credentials"),
    ],
)
def test_config_validation_names_the_field(overrides: dict[str, object], field: str) -> None:
    arguments = {"client_id": TEST_KEY, "client_secret": TEST_SECRET, **overrides}
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**arguments)


def test_config_repr_hides_secrets() -> None:
    config = EmulatorConfig("key", "super-secret", extra_credentials={"k2": "other-secret"})
    assert "super-secret" not in repr(config) and "other-secret" not in repr(config)
    assert config.credentials() == {"key": "super-secret", "k2": "other-secret"}
