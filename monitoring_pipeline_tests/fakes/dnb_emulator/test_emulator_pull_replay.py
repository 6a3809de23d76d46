"""Pull (destructive, ordered, stamped, expiring) and Replay (non-destructive, strictly after, windowed)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from monitoring_pipeline.dnb.timestamps import format_millis, format_seconds, parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import (
    MILLIS_Z,
    MONITORING,
    TEST_KEY,
    TEST_SECRET,
    admin_view,
    advance_clock,
    assert_error,
    create_registration,
    markers,
    queue,
    unlimited_config,
    update,
    wait_for,
)

DUNS = "001017545"
PULL = f"{MONITORING}/REG_P/notifications"
REPLAY = f"{MONITORING}/REG_P/notifications/replay"
DAY = 86400


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    return unlimited_config()


@pytest.fixture
def registration(admin_http: httpx.Client) -> str:
    create_registration(admin_http, "REG_P", subjects=[DUNS])
    return "REG_P"


def pull(api: httpx.Client, count: int | None = None) -> list[dict]:
    params = {"maxNotifications": count} if count is not None else None
    response = api.get(PULL, params=params)
    assert response.status_code == 200, response.text
    return response.json()["notifications"]


def replay(api: httpx.Client, start: str, count: int | None = None) -> httpx.Response:
    params: dict[str, object] = {"replayStartTimestamp": start}
    if count is not None:
        params["maxNotifications"] = count
    return api.get(REPLAY, params=params)


def emulator_now(admin_http: httpx.Client):
    return parse_dnb_timestamp(admin_http.get("/_emulator/clock").json()["now"])


def test_pull_defaults_to_one_in_generation_order(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(3)])
    body = api.get(PULL).json()
    assert body["inquiryDetail"] == {"reference": "REG_P"}
    assert body["transactionDetail"]["transactionID"].startswith("rrt-")
    assert markers(body["notifications"]) == ["m0"]
    assert markers(pull(api, 5)) == ["m1", "m2"]
    assert_error(api.get(PULL), 404, "21502")


def test_one_pull_shares_a_millisecond_stamp_that_overwrites_injected_ones(admin_http, api, registration) -> None:
    injected = [{**update(DUNS, f"m{i}"), "deliveryTimeStamp": "2001-01-01T00:00:00.000Z"} for i in range(4)]
    queue(admin_http, registration, injected)
    notifications = pull(api, 4)
    stamps = {n["deliveryTimeStamp"] for n in notifications}
    assert len(stamps) == 1
    stamp = stamps.pop()
    assert MILLIS_Z.match(stamp) and stamp != "2001-01-01T00:00:00.000Z"
    assert list(notifications[0])[-1] == "deliveryTimeStamp"


def test_consecutive_pulls_never_share_a_stamp(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(30)])
    stamps = [pull(api, 1)[0]["deliveryTimeStamp"] for _ in range(30)]
    moments = [parse_dnb_timestamp(s) for s in stamps]
    assert all(later > earlier for earlier, later in zip(moments, moments[1:], strict=False))


def test_pull_drains_until_404(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(7)])
    seen = []
    while (response := api.get(PULL, params={"maxNotifications": 3})).status_code == 200:
        seen += markers(response.json()["notifications"])
    assert_error(response, 404, "21502")
    assert seen == [f"m{i}" for i in range(7)]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "101", "", " ", "1e2"])
@pytest.mark.parametrize("endpoint", ["pull", "replay"])
def test_invalid_max_notifications_is_10002(admin_http, api, registration, value: str, endpoint: str) -> None:
    queue(admin_http, registration, [update(DUNS, "kept")])
    params = {"maxNotifications": value}
    if endpoint == "replay":
        params["replayStartTimestamp"] = format_millis(emulator_now(admin_http) - timedelta(hours=1))
    response = api.get(PULL if endpoint == "pull" else REPLAY, params=params)
    error = assert_error(response, 400, "10002")
    assert error["errorDetails"][0]["parameter"] == "maxNotifications"
    assert admin_view(admin_http, registration)["pending"] == 1  # a rejected call consumes nothing


def test_max_notifications_at_the_cap_is_accepted(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(120)])
    assert len(pull(api, 100)) == 100


def test_cap_is_configurable(emulator_factory) -> None:
    server = emulator_factory(max_notifications_cap=3, rate_limit_per_second=None)
    with httpx.Client(base_url=server.url) as http:
        create_registration(http, "REG_P")
        token = http.post("/v3/token", auth=(TEST_KEY, TEST_SECRET), data={"grant_type": "client_credentials"}).json()[
            "access_token"
        ]
        http.headers["Authorization"] = f"Bearer {token}"
        assert_error(http.get(PULL, params={"maxNotifications": 4}), 400, "10002")
        assert_error(http.get(PULL, params={"maxNotifications": 3}), 404, "21502")


@pytest.mark.parametrize("suffix", ["", "/replay?replayStartTimestamp=2020-01-01T00:00:00Z"])
def test_pull_and_replay_need_api_pull(admin_http, api, suffix: str) -> None:
    create_registration(admin_http, "REG_STP", deliveryTrigger="STP")
    assert_error(api.get(f"{MONITORING}/REG_STP/notifications{suffix}"), 400, "21503")


def test_pull_needs_a_token(emulator, registration) -> None:
    with httpx.Client(base_url=emulator.url) as http:
        assert_error(http.get(PULL), 401, "00004")
        assert_error(http.get(REPLAY, params={"replayStartTimestamp": "2020-01-01T00:00:00Z"}), 401, "00004")


def test_unpulled_notifications_expire_after_four_days(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, "old")])
    advance_clock(admin_http, 4 * DAY - 60)
    queue(admin_http, registration, [update(DUNS, "young")])
    advance_clock(admin_http, 120, api)
    assert markers(pull(api, 10)) == ["young"]
    assert admin_http.get("/_emulator/stats").json()["expired_notifications"] == 1


def test_suppressed_notifications_start_ageing_when_released(admin_http, api) -> None:
    create_registration(admin_http, "REG_H", suppressed=True)
    queue(admin_http, "REG_H", [update(DUNS, "held")])
    advance_clock(admin_http, 5 * DAY, api)
    api.delete(f"{MONITORING}/REG_H/suppress")
    response = api.get(f"{MONITORING}/REG_H/notifications")
    assert markers(response.json()["notifications"]) == ["held"]


def test_pull_expiry_is_configurable(emulator_factory) -> None:
    server = emulator_factory(pull_expiry_seconds=60, rate_limit_per_second=None)
    with httpx.Client(base_url=server.url) as http:
        create_registration(http, "REG_P")
        queue(http, "REG_P", [update(DUNS, "short-lived")])
        advance_clock(http, 61)
        assert admin_view(http, "REG_P")["pending"] == 0


def test_every_delivery_is_logged(admin_http, api, registration) -> None:
    create_registration(admin_http, "REG_Q")
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(3)])
    queue(admin_http, "REG_Q", [update(DUNS, "q")])
    delivered = pull(api, 2) + pull(api, 2)
    api.get(f"{MONITORING}/REG_Q/notifications")

    log = admin_http.get("/_emulator/deliveries").json()
    assert log["count"] == 4
    mine = admin_http.get("/_emulator/deliveries", params={"reference": "REG_P"}).json()
    assert mine["count"] == 3
    assert [entry["notification"] for entry in mine["deliveries"]] == delivered
    assert [entry["deliveryTimeStamp"] for entry in mine["deliveries"]] == [n["deliveryTimeStamp"] for n in delivered]
    assert {entry["reference"] for entry in log["deliveries"]} == {"REG_P", "REG_Q"}


def test_replay_returns_delivered_notifications_strictly_after(admin_http, api, registration) -> None:
    start = format_millis(emulator_now(admin_http) - timedelta(seconds=1))
    queue(admin_http, registration, [update(DUNS, f"m{i}") for i in range(5)])
    first, second, third = pull(api, 2), pull(api, 2), pull(api, 1)

    everything = replay(api, start, 100)
    assert everything.status_code == 200
    assert everything.json()["inquiryDetail"] == {"reference": "REG_P"}
    assert everything.json()["notifications"] == first + second + third  # original stamps, ascending

    assert replay(api, start).json()["notifications"] == first[:1]  # default maxNotifications=1
    after_first = replay(api, first[0]["deliveryTimeStamp"], 100).json()["notifications"]
    assert after_first == second + third
    assert replay(api, start, 100).json()["notifications"] == everything.json()["notifications"]  # repeatable
    assert_error(replay(api, third[0]["deliveryTimeStamp"], 100), 404, "21502")
    assert admin_view(admin_http, registration)["delivered"] == 5


def test_replay_accepts_second_precision_and_offsets(admin_http, api, registration) -> None:
    before = emulator_now(admin_http) - timedelta(seconds=2)
    queue(admin_http, registration, [update(DUNS, "m")])
    pull(api)
    for start in (format_seconds(before), format_millis(before), before.isoformat()):
        assert markers(replay(api, start).json()["notifications"]) == ["m"], start


def test_replay_with_nothing_delivered_is_21502(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, "never-pulled")])
    start = format_millis(emulator_now(admin_http) - timedelta(hours=1))
    assert_error(replay(api, start, 10), 404, "21502")


@pytest.mark.parametrize("start", [None, "", "yesterday", "2026-13-45T00:00:00Z"])
def test_replay_missing_or_malformed_start_is_10002(api, registration, start: str | None) -> None:
    params = {"replayStartTimestamp": start} if start is not None else {}
    error = assert_error(api.get(REPLAY, params=params), 400, "10002")
    assert error["errorDetails"][0]["parameter"] == "replayStartTimestamp"


def test_replay_start_in_the_future_is_10002(admin_http, api, registration) -> None:
    future = format_millis(emulator_now(admin_http) + timedelta(minutes=5))
    assert_error(replay(api, future), 400, "10002")


def test_replay_start_older_than_the_window_is_10002(admin_http, api, registration) -> None:
    too_old = format_millis(emulator_now(admin_http) - timedelta(days=14, minutes=1))
    assert_error(replay(api, too_old), 400, "10002")
    inside = format_millis(emulator_now(admin_http) - timedelta(days=13, hours=23))
    assert_error(replay(api, inside), 404, "21502")


def test_deliveries_older_than_the_window_are_not_replayed(admin_http, api, registration) -> None:
    queue(admin_http, registration, [update(DUNS, "old")])
    pull(api)
    advance_clock(admin_http, 14 * DAY + 3600, api)
    queue(admin_http, registration, [update(DUNS, "new")])
    pull(api)
    start = format_millis(emulator_now(admin_http) - timedelta(days=14) + timedelta(seconds=1))
    assert markers(replay(api, start, 10).json()["notifications"]) == ["new"]
    assert admin_http.get("/_emulator/deliveries").json()["count"] == 2  # the log keeps everything


def test_generate_uses_subjects_and_type_mix(admin_http, api, registration) -> None:
    response = admin_http.post(
        f"/_emulator/registrations/{registration}/notifications", json={"generate": 6, "types": {"UPDATE": 1}}
    )
    assert response.json() == {"queued": 6, "pending": 6}
    notifications = pull(api, 10)
    assert {n["type"] for n in notifications} == {"UPDATE"}
    assert {n["organization"]["duns"] for n in notifications} == {DUNS}


def test_generate_with_explicit_duns(admin_http, api, registration) -> None:
    body = {"generate": 3, "types": {"DELETE": 1, "UPDATE": 0}, "duns": ["123456789"]}
    admin_http.post(f"/_emulator/registrations/{registration}/notifications", json=body)
    notifications = pull(api, 10)
    assert [n["type"] for n in notifications] == ["DELETE"] * 3
    assert {n["organization"]["duns"] for n in notifications} == {"123456789"}


def test_generate_without_subjects_uses_random_duns(admin_http, api) -> None:
    create_registration(admin_http, "REG_E")
    admin_http.post("/_emulator/registrations/REG_E/notifications", json={"generate": 2})
    notifications = api.get(f"{MONITORING}/REG_E/notifications", params={"maxNotifications": 2}).json()
    assert all(len(n["organization"]["duns"]) == 9 for n in notifications["notifications"])


def test_live_stream_starts_and_stops(admin_http, registration) -> None:
    path = f"/_emulator/registrations/{registration}/notifications"
    started = admin_http.post(path, json={"stream": {"per_minute": 1200, "types": {"UPDATE": 1}}})
    assert started.status_code == 200
    assert started.json()["stream"] == {"per_minute": 1200, "types": {"UPDATE": 1.0}}
    wait_for(lambda: admin_view(admin_http, registration)["pending"] >= 2)
    stopped = admin_http.post(path, json={"stream": {"per_minute": 0}})
    assert stopped.json()["stream"] is None
    assert admin_view(admin_http, registration)["stream"] is None


@pytest.mark.parametrize(
    "body",
    [
        "just a string",
        [1, 2],
        {"generate": 0},
        {"generate": True},
        {"generate": 2, "types": {"NOT_A_TYPE": 1}},
        {"generate": 2, "types": {"UPDATE": -1}},
        {"generate": 2, "types": {"UPDATE": 0}},
        {"generate": 2, "duns": ["12"]},
        {"stream": {"per_minute": -1}},
        {"stream": {"per_minute": "fast"}},
        {"stream": 5},
        {"something": "else"},
    ],
)
def test_admin_notifications_reject_bad_bodies(admin_http, registration, body: object) -> None:
    response = admin_http.post(f"/_emulator/registrations/{registration}/notifications", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_admin_notifications_accept_wrapped_list(admin_http, registration) -> None:
    response = admin_http.post(
        f"/_emulator/registrations/{registration}/notifications", json={"notifications": [update(DUNS, "w")]}
    )
    assert response.json() == {"queued": 1, "pending": 1}


def test_admin_notifications_unknown_registration_is_404(admin_http) -> None:
    response = admin_http.post("/_emulator/registrations/NOPE/notifications", json=[update(DUNS, "x")])
    assert response.status_code == 404
