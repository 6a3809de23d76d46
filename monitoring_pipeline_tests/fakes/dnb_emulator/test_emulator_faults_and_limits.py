"""Rate limit per consumer key, call stats, and every injectable fault."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from monitoring_pipeline.dnb.timestamps import format_millis, parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorState
from monitoring_pipeline.fakes.dnb_emulator.faults import Faults
from monitoring_pipeline.fakes.dnb_emulator.state import CallStats
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import (
    MONITORING,
    TEST_KEY,
    TEST_SECRET,
    admin_view,
    assert_error,
    create_registration,
    get_token,
    markers,
    queue,
    unlimited_config,
    update,
)

DUNS = "001017545"
PULL = f"{MONITORING}/REG_F/notifications"
PULL_ROUTE = "GET /v1/monitoring/registrations/{reference}/notifications"


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    return unlimited_config(**{"other-key": "other-secret"})


@pytest.fixture
def loaded(admin_http: httpx.Client) -> str:
    create_registration(admin_http, "REG_F", subjects=[DUNS])
    queue(admin_http, "REG_F", [update(DUNS, f"m{i}") for i in range(5)])
    return "REG_F"


def set_faults(admin_http: httpx.Client, **faults: object) -> dict:
    response = admin_http.post("/_emulator/faults", json=faults)
    assert response.status_code == 200, response.text
    return response.json()


def stats(admin_http: httpx.Client) -> dict:
    return admin_http.get("/_emulator/stats").json()


# ----- rate limit ------------------------------------------------------------------------------


def test_sliding_window_admits_limit_per_second_per_key() -> None:
    state = EmulatorState(EmulatorConfig("k", "s", rate_limit_per_second=5))
    admitted = [state.admit_call("k", t, "GET /x") for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.99)]
    assert admitted == [True] * 5 + [False, False]
    assert state.admit_call("other", 0.5, "GET /x")  # keys have separate budgets
    assert state.admit_call("k", 1.0, "GET /x")  # the call at 0.0 has left the window
    assert not state.admit_call("k", 1.05, "GET /x")
    assert state.admit_call(None, 0.5, "GET /x")  # unidentifiable callers are rejected by auth instead


def test_rejected_calls_do_not_use_the_budget() -> None:
    state = EmulatorState(EmulatorConfig("k", "s", rate_limit_per_second=1))
    assert [state.admit_call("k", t, "GET /x") for t in (0.0, 0.5, 0.9, 1.01)] == [True, False, False, True]


def test_busiest_second_counts_every_arrival() -> None:
    recorder = CallStats()
    for arrival in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.1, 5.0):
        recorder.record_arrival("k", arrival, "GET /x")
    # [0.2, 1.1] holds 0.2, 0.4, 0.6, 0.8, 1.0, 1.1; a window is 1 s wide, so 0.0 and 1.0 never share one.
    assert recorder.max_calls_in_any_second == {"k": 6}
    assert recorder.as_json()["calls_total"] == 8


def test_rate_limit_answers_429_00045_without_retry_after(emulator_factory) -> None:
    server = emulator_factory(rate_limit_per_second=2)
    with httpx.Client(base_url=server.url) as http:
        create_registration(http, "REG_F")  # admin: never limited
        token = get_token(http)
        responses = [http.get(MONITORING, headers={"Authorization": f"Bearer {token}"}) for _ in range(8)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited, "8 calls in a row never exceeded 2 calls/s"
        assert_error(limited[0], 429, "00045")
        assert "retry-after" not in limited[0].headers
        body = http.get("/_emulator/stats").json()
        assert body["responses_429"] == len(limited)
        assert body["max_calls_in_any_second"][TEST_KEY] >= 3


def test_rate_limit_sends_configured_retry_after(emulator_factory) -> None:
    server = emulator_factory(rate_limit_per_second=1, retry_after_seconds=1.5)
    with httpx.Client(base_url=server.url) as http:
        responses = [http.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data={"grant_type": "x"}) for _ in range(5)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited
        assert limited[0].headers["retry-after"] == "1.5"


def test_rate_limit_does_not_consume_notifications(emulator_factory) -> None:
    server = emulator_factory(rate_limit_per_second=2)
    with httpx.Client(base_url=server.url) as http:
        create_registration(http, "REG_F")
        queue(http, "REG_F", [update(DUNS, f"m{i}") for i in range(20)])
        http.headers["Authorization"] = f"Bearer {get_token(http)}"
        pulled = limited = 0
        while limited == 0 and pulled < 20:
            response = http.get(PULL)
            if response.status_code == 429:
                limited += 1
            else:
                pulled += len(response.json()["notifications"])
        assert limited == 1
        assert admin_view(http, "REG_F")["pending"] == 20 - pulled
        assert http.get("/_emulator/deliveries").json()["count"] == pulled


def test_admin_calls_are_never_limited_or_counted(emulator_factory) -> None:
    server = emulator_factory(rate_limit_per_second=1)
    with httpx.Client(base_url=server.url) as http:
        assert all(http.get("/_emulator/health").status_code == 200 for _ in range(20))
        body = http.get("/_emulator/stats").json()
        assert body["calls_total"] == 0 and body["calls"] == {}


def test_each_key_has_its_own_budget(emulator_factory) -> None:
    server = emulator_factory(rate_limit_per_second=1, extra_credentials={"other-key": "other-secret"})
    with httpx.Client(base_url=server.url) as http:
        get_token(http)  # the first call of a key is always admitted ...
        get_token(http, "other-key", "other-secret")  # ... and so is the other key's
        assert set(http.get("/_emulator/stats").json()["max_calls_in_any_second"]) == {TEST_KEY, "other-key"}


def test_stats_group_calls_by_route_template(admin_http, api, loaded) -> None:
    api.get(PULL)
    api.get(PULL)
    api.get(f"{MONITORING}/REG_F")
    api.get("/no/such/path")
    body = stats(admin_http)
    assert body["calls"][PULL_ROUTE] == 2
    assert body["calls"]["POST /v3/token"] == 1
    assert body["calls"]["GET /v1/monitoring/registrations/{reference}"] == 1
    assert body["calls_total"] == 5
    assert body["responses_by_status"] == {"200": 4, "404": 1}
    assert body["tokens_issued"] == 1
    assert body["max_calls_in_any_second"][TEST_KEY] >= 1


# ----- faults ------------------------------------------------------------------------------------


def test_http_429_fault_with_and_without_retry_after(admin_http, api, loaded) -> None:
    set_faults(admin_http, http_429={"count": 2, "retry_after": 3, "paths": ["notifications"]})
    first = api.get(PULL)
    assert_error(first, 429, "00045")
    assert first.headers["retry-after"] == "3"
    assert_error(api.get(PULL), 429, "00045")
    assert markers(api.get(PULL).json()["notifications"]) == ["m0"]  # nothing consumed by the 429s

    set_faults(admin_http, http_429={"count": 1})
    assert "retry-after" not in api.get(PULL).headers


@pytest.mark.parametrize(("status", "code"), [(500, "00034"), (503, "00002")])
def test_http_5xx_fault_answers_envelope(admin_http, api, loaded, status: int, code: str) -> None:
    set_faults(admin_http, http_5xx={"count": 1, "status": status})
    assert_error(api.get(PULL), status, code)
    assert admin_view(admin_http, loaded)["pending"] == 5


def test_http_502_fault_answers_gateway_html(admin_http, api, loaded) -> None:
    set_faults(admin_http, http_5xx={"count": 1, "status": 502})
    response = api.get(PULL)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text


def test_fault_paths_narrow_the_target(admin_http, api, loaded) -> None:
    set_faults(admin_http, http_5xx={"probability": 1.0, "paths": ["notifications"]})
    assert api.get(MONITORING).status_code == 200
    assert get_token(api)
    assert api.get(PULL).status_code == 500
    assert admin_http.get("/_emulator/health").status_code == 200  # admin calls are never faulted


def test_default_paths_include_token_calls(admin_http, emulator) -> None:
    set_faults(admin_http, http_5xx={"count": 1, "status": 503})
    response = admin_http.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data={"grant_type": "client_credentials"})
    assert response.status_code == 503


def test_probability_zero_never_fires(admin_http, api, loaded) -> None:
    set_faults(admin_http, http_5xx={"probability": 0})
    assert all(api.get(MONITORING).status_code == 200 for _ in range(10))


def test_latency_fault_delays_but_answers(admin_http, api, loaded) -> None:
    set_faults(admin_http, latency={"seconds": 0.2, "count": 1})
    assert api.get(PULL).status_code == 200
    assert stats(admin_http)["faults_fired"] == {"latency": 1}


def test_drop_connection_consumes_and_logs_the_pull(admin_http, api, loaded) -> None:
    set_faults(admin_http, drop_connection={"count": 1, "paths": ["notifications"]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get(PULL, params={"maxNotifications": 2})
    assert admin_view(admin_http, loaded)["pending"] == 3  # the lost response still consumed them
    log = admin_http.get("/_emulator/deliveries").json()
    assert markers([entry["notification"] for entry in log["deliveries"]]) == ["m0", "m1"]
    # Replay from just before the lost pull recovers it.
    start = format_millis(parse_dnb_timestamp(log["deliveries"][0]["deliveryTimeStamp"]) - timedelta(milliseconds=1))
    recovered = api.get(f"{PULL}/replay", params={"replayStartTimestamp": start, "maxNotifications": 5})
    assert markers(recovered.json()["notifications"]) == ["m0", "m1"]
    assert markers(api.get(PULL).json()["notifications"]) == ["m2"]  # the connection pool recovered


def test_truncate_json_completes_http_with_invalid_json(admin_http, api, loaded) -> None:
    set_faults(admin_http, truncate_json={"count": 1})
    response = api.get(PULL, params={"maxNotifications": 3})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert admin_view(admin_http, loaded)["pending"] == 2
    assert admin_http.get("/_emulator/deliveries").json()["count"] == 3


def test_token_expiry_after_calls(admin_http, api, loaded) -> None:
    set_faults(admin_http, token_expiry_after_calls=2)
    assert api.get(MONITORING).status_code == 200
    assert api.get(f"{MONITORING}/REG_F").status_code == 200
    assert_error(api.get(MONITORING), 401, "00040")
    fresh = get_token(api)
    assert api.get(MONITORING, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert admin_http.get("/_emulator/faults").json()["token_expiry_after_calls"] is None


def test_failed_calls_do_not_count_toward_token_expiry(admin_http, api, loaded) -> None:
    set_faults(admin_http, token_expiry_after_calls=1)
    assert_error(api.get(f"{MONITORING}/NOPE"), 404, "21501")
    assert api.get(MONITORING).status_code == 200
    assert_error(api.get(MONITORING), 401, "00040")


def test_faults_state_is_visible_and_clearable(admin_http) -> None:
    shown = set_faults(
        admin_http,
        http_429={"count": 2, "retry_after": None},
        latency={"seconds": 0.1, "probability": 0.5, "paths": ["token"]},
        token_expiry_after_calls=3,
        not_a_fault=1,
    )
    assert shown["active"]["http_429"] == {"count": 2, "paths": None, "retry_after": None}
    assert shown["active"]["latency"] == {"probability": 0.5, "paths": ["token"], "seconds": 0.1}
    assert shown["token_expiry_after_calls"] == 3
    assert shown["ignored_fields"] == ["not_a_fault"]
    assert admin_http.get("/_emulator/faults").json()["active"].keys() == {"http_429", "latency"}
    assert set_faults(admin_http, clear=True)["active"] == {}
    set_faults(admin_http, http_429={"count": 1})
    assert set_faults(admin_http)["active"] == {}


def test_exhausted_faults_leave_the_active_set(admin_http, api, loaded) -> None:
    set_faults(admin_http, http_5xx={"count": 1})
    api.get(MONITORING)
    assert admin_http.get("/_emulator/faults").json()["active"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"http_429": {"count": 1, "probability": 0.5}},
        {"http_429": {}},
        {"http_429": {"count": -1}},
        {"http_429": {"probability": 1.5}},
        {"http_5xx": {"count": 1, "status": 504}},
        {"latency": {"count": 1}},
        {"latency": {"count": 1, "seconds": 10_000}},
        {"drop_connection": {"count": 1, "paths": "notifications"}},
        {"token_expiry_after_calls": 0},
        {"truncate_json": True},
        [1],
    ],
)
def test_invalid_fault_bodies_are_400(admin_http, body: object) -> None:
    response = admin_http.post("/_emulator/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_fault_parsing_is_deterministic_with_a_seed() -> None:
    def fired(seed: int) -> list[bool]:
        faults = Faults.from_json({"seed": seed, "http_5xx": {"probability": 0.5}})
        return [faults.draw("/v3/token").kind == "http_5xx" for _ in range(20)]

    assert fired(7) == fired(7)
