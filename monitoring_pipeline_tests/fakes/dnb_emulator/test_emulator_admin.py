"""The ``/_emulator`` control API, the server lifecycle, demo seeding and the CLI entry point."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorServer, EmulatorState, create_app, seed_demo
from monitoring_pipeline.fakes.dnb_emulator.demo import DEMO_REFERENCES
from monitoring_pipeline_tests.fakes.dnb_emulator.helpers import (
    MILLIS_Z,
    MONITORING,
    TEST_KEY,
    TEST_SECRET,
    admin_view,
    assert_error,
    create_registration,
    get_token,
    queue,
    unlimited_config,
    update,
)

DUNS = "001017545"


@pytest.fixture(scope="module")
def emulator_config() -> EmulatorConfig:
    return unlimited_config()


def test_health(admin_http: httpx.Client) -> None:
    response = admin_http.get("/_emulator/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_clock_reads_and_advances(admin_http: httpx.Client) -> None:
    before = admin_http.get("/_emulator/clock").json()["now"]
    assert MILLIS_Z.match(before)
    after = admin_http.post("/_emulator/clock", json={"advance_seconds": 3600}).json()["now"]
    delta = parse_dnb_timestamp(after) - parse_dnb_timestamp(before)
    assert 3600 <= delta.total_seconds() < 3660


@pytest.mark.parametrize("body", [{"advance_seconds": -1}, {"advance_seconds": "1"}, {}, [5], None])
def test_clock_rejects_bad_advances(admin_http: httpx.Client, body: object) -> None:
    response = admin_http.post("/_emulator/clock", json=body)
    assert response.status_code == 400 and response.json()["error"]


def test_admin_registration_view(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_V", subjects=[DUNS], description="view me")
    queue(admin_http, "REG_V", [update(DUNS, "a"), update(DUNS, "b")])
    api.get(f"{MONITORING}/REG_V/notifications")
    view = admin_view(admin_http, "REG_V")
    assert view["reference"] == "REG_V"
    assert view["subjects"] == [DUNS]
    assert view["suppressed"] is False
    assert (view["pending"], view["delivered"]) == (1, 1)
    assert view["rejected_batch_lines"] == [] and view["pending_batches"] == 0
    assert view["stream"] is None
    assert view["messages"]["registration"]["description"] == "view me"
    listing = admin_http.get("/_emulator/registrations").json()["registrations"]
    assert [entry["reference"] for entry in listing] == ["REG_V"]


def test_admin_view_of_unknown_registration_is_404(admin_http: httpx.Client) -> None:
    response = admin_http.get("/_emulator/registrations/NOPE")
    assert response.status_code == 404
    assert response.json()["code"] == "21501"


def test_unknown_admin_path_is_plain_404(admin_http: httpx.Client) -> None:
    response = admin_http.get("/_emulator/nothing")
    assert response.status_code == 404
    assert "error" in response.json() and "transactionDetail" not in response.json()


def test_stats_shape(admin_http: httpx.Client, api: httpx.Client) -> None:
    body = admin_http.get("/_emulator/stats").json()
    assert set(body) >= {
        "calls",
        "calls_total",
        "responses_429",
        "responses_by_status",
        "max_calls_in_any_second",
        "tokens_issued",
        "expired_notifications",
    }
    assert body["calls"] == {"POST /v3/token": 1}
    assert body["tokens_issued"] == 1


def test_reset_forgets_everything_but_the_config(admin_http: httpx.Client, api: httpx.Client) -> None:
    create_registration(admin_http, "REG_R", subjects=[DUNS])
    queue(admin_http, "REG_R", [update(DUNS, "x")])
    api.get(f"{MONITORING}/REG_R/notifications")
    admin_http.post("/_emulator/faults", json={"http_429": {"count": 5}})
    admin_http.post("/_emulator/clock", json={"advance_seconds": 86400 * 3})

    assert admin_http.post("/_emulator/reset").status_code == 200

    assert admin_http.get("/_emulator/registrations").json()["registrations"] == []
    assert admin_http.get("/_emulator/deliveries").json() == {"count": 0, "deliveries": []}
    assert admin_http.get("/_emulator/faults").json()["active"] == {}
    assert admin_http.get("/_emulator/stats").json()["calls_total"] == 0
    assert_error(api.get(MONITORING), 401, "00004")  # old tokens are gone
    assert get_token(api)  # the credentials still work


def test_reset_restores_the_real_clock(admin_http: httpx.Client) -> None:
    before = parse_dnb_timestamp(admin_http.get("/_emulator/clock").json()["now"])
    admin_http.post("/_emulator/clock", json={"advance_seconds": 86400 * 30})
    admin_http.post("/_emulator/reset")
    after = parse_dnb_timestamp(admin_http.get("/_emulator/clock").json()["now"])
    assert (after - before).total_seconds() < 86400


def test_seed_demo_over_http_is_idempotent(emulator: EmulatorServer, admin_http: httpx.Client) -> None:
    assert seed_demo(emulator.url, seed=1) == list(DEMO_REFERENCES)
    for reference in DEMO_REFERENCES:
        view = admin_view(admin_http, reference)
        assert len(view["subjects"]) == 5
        assert view["pending"] >= 30
        assert view["stream"]["per_minute"] == 12
        assert view["messages"]["registration"]["deliveryTrigger"] == "API_PULL"
    assert seed_demo(emulator.url) == []


def test_seed_demo_on_a_state() -> None:
    state = EmulatorState(EmulatorConfig("k", "s"))
    assert seed_demo(state, initial=3, per_minute=6, subjects_per_registration=2) == list(DEMO_REFERENCES)
    assert state.references() == list(DEMO_REFERENCES)
    view = state.admin_view("DEMO_RISK")
    assert view["pending"] == 3 + 2  # the backlog plus one SEED per subject
    assert view["stream"] == {"per_minute": 6.0, "types": None}


def test_server_lifecycle(emulator_config: EmulatorConfig) -> None:
    server = EmulatorServer(emulator_config)
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert httpx.get(server.url + "/_emulator/health").status_code == 200
        with pytest.raises(RuntimeError):
            server.start()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/_emulator/health", timeout=2)


def test_server_shares_a_given_state(emulator_config: EmulatorConfig) -> None:
    state = EmulatorState(emulator_config)
    with EmulatorServer(emulator_config, state=state) as server:
        httpx.post(server.url + "/_emulator/registrations", json={"reference": "SHARED"})
        assert state.references() == ["SHARED"]


def test_create_app_rejects_a_state_of_another_config(emulator_config: EmulatorConfig) -> None:
    other = EmulatorState(EmulatorConfig("x", "y"))
    with pytest.raises(ValueError, match="EmulatorConfig"):
        create_app(emulator_config, other)


def test_no_secret_or_token_in_logs(emulator: EmulatorServer, api: httpx.Client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token = api.headers["Authorization"].split()[1]
    with httpx.Client(base_url=emulator.url) as http:
        http.post("/v3/token", auth=(TEST_KEY, "wrong-secret"), data={"grant_type": "client_credentials"})
        http.post("/_emulator/faults", json={"drop_connection": {"count": 1}})
        with pytest.raises(httpx.HTTPError):
            http.get(MONITORING, headers={"Authorization": f"Bearer {token}"})
    logged = caplog.text
    assert TEST_SECRET not in logged and "wrong-secret" not in logged and token not in logged


def test_serve_forever_logs_its_url_and_seeds_the_demo() -> None:
    script = textwrap.dedent(
        """
        from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, serve_forever
        serve_forever(EmulatorConfig("cli-key", "cli-secret-xyz"), port=0, seed_demo=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        assert "cli-secret-xyz" not in line
        url = match.group(0)
        for _ in range(100):
            try:
                if httpx.get(url + "/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        references = httpx.get(url + "/_emulator/registrations").json()["registrations"]
        assert [entry["reference"] for entry in references] == list(DEMO_REFERENCES)
    finally:
        process.terminate()
        process.wait(timeout=10)
