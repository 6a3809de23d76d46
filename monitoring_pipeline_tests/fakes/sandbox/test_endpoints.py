"""Fake endpoints against the real server over HTTP: status, body, headers, errors, faults and phases."""

from __future__ import annotations

import asyncio
import json
import random
import socket

import httpx
import pytest

from monitoring_pipeline.fakes.sandbox import EndpointBehaviour, SandboxAdmin, SandboxServer
from monitoring_pipeline_tests.fakes.sandbox.conftest import START, FakeClock
from monitoring_pipeline_tests.waiting import eventually


def test_default_endpoint_answers_ok_on_any_method_and_sub_path(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("stripe")
    for method, path in [("GET", "/stripe"), ("POST", "/stripe/v1/charges"), ("PUT", "/stripe/a/b/c"),
                         ("DELETE", "/stripe/x"), ("PATCH", "/stripe")]:
        response = http.request(method, path, json={"ignored": True})
        assert response.status_code == 200, (method, path)
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"status": "ok"}
    assert admin.stats()["endpoints"]["stripe"] == {"requests": 5, "by_status": {"200": 5}, "faults": {}}


def test_unknown_endpoint_is_404(http: httpx.Client, admin: SandboxAdmin) -> None:
    for path in ("/nope", "/nope/deeper", "/_private"):
        response = http.get(path)
        assert response.status_code == 404 and response.json() == {"error": "unknown endpoint"}
    stats = admin.stats()
    assert stats["unknown_endpoint_requests"] == 3 and stats["total"] == 0


def test_status_body_content_type_and_headers(admin: SandboxAdmin, http: httpx.Client) -> None:
    body = {"status": {"indicator": "minor", "description": "Partial outage"}, "components": [1, 2]}
    admin.put_endpoint("status-page", status=202, body=body, headers={"X-Region": "eu-west-1", "Retry-After": 7})
    response = http.get("/status-page")
    assert response.status_code == 202 and response.json() == body
    assert response.headers["x-region"] == "eu-west-1" and response.headers["retry-after"] == "7"
    assert int(response.headers["content-length"]) == len(response.content)

    admin.put_endpoint("text", body="all good\n", content_type="text/plain; charset=utf-8")
    response = http.get("/text")
    assert response.text == "all good\n" and response.headers["content-type"] == "text/plain; charset=utf-8"

    admin.put_endpoint("json-string", body="up")  # a string under a JSON content type is a JSON string
    assert http.get("/json-string").content == b'"up"'


def test_head_and_no_content_answers_have_no_body(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("a")
    head = http.head("/a")
    assert head.status_code == 200 and head.content == b""
    admin.put_endpoint("empty", status=204)
    response = http.delete("/empty")
    assert response.status_code == 204 and response.content == b""


def test_error_rate_all_none_and_some(sandbox: SandboxServer, admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("down", error_rate=1, error_status=502, headers={"X-Trace": "t"})
    response = http.get("/down")
    assert response.status_code == 502
    assert response.json() == {"error": "simulated failure", "status": 502}
    assert response.headers["x-trace"] == "t"

    admin.put_endpoint("up", error_rate=0)
    assert {http.get("/up").status_code for _ in range(20)} == {200}

    admin.put_endpoint("flaky", error_rate=0.3)
    sandbox.state.rng.seed(7)
    statuses = [http.get("/flaky").status_code for _ in range(60)]
    expected_rng = random.Random(7)
    assert statuses == [503 if expected_rng.random() < 0.3 else 200 for _ in range(60)]
    assert 0 < statuses.count(503) < 60
    by_status = admin.stats()["endpoints"]["flaky"]["by_status"]
    assert by_status == {"200": statuses.count(200), "503": statuses.count(503)}


def test_latency_draws_stay_in_range() -> None:
    rng = random.Random(1)
    ranged = EndpointBehaviour(name="a", latency_ms=[100, 300]).plan_at(0)
    draws = [ranged.draw_latency_seconds(rng) for _ in range(500)]
    assert all(0.1 <= draw <= 0.3 for draw in draws) and len(set(draws)) > 400
    fixed = EndpointBehaviour(name="b", latency_ms=250).plan_at(0)
    assert {fixed.draw_latency_seconds(rng) for _ in range(10)} == {0.25}
    assert EndpointBehaviour(name="c").plan_at(0).draw_latency_seconds(rng) == 0


def test_latency_beyond_the_client_timeout_times_the_client_out(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("slow", latency_ms=400)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/slow", timeout=0.05)  # the sandbox waits 400 ms before it even decides the answer
    assert admin.stats()["endpoints"]["slow"]["requests"] == 1


# -- faults ------------------------------------------------------------------------------------------


def _raw_request(url: str, path: str) -> bytes:
    """Send one HTTP/1.1 request on a plain socket; everything the server sent before closing."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def test_reset_drops_the_connection_without_a_response(admin: SandboxAdmin, http: httpx.Client,
                                                       sandbox: SandboxServer) -> None:
    admin.put_endpoint("gone", fault="reset")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.get("/gone")
    assert _raw_request(sandbox.url, "/gone") == b""
    admin.put_endpoint("fine")
    assert http.get("/fine").status_code == 200  # the client reconnects; the server is unharmed
    assert admin.stats()["endpoints"]["gone"] == {"requests": 2, "by_status": {}, "faults": {"reset": 2}}


def test_reset_with_the_h11_parser_too() -> None:
    with SandboxServer(http="h11") as server, SandboxAdmin(server.url) as admin:
        admin.put_endpoint("gone", fault="reset")
        assert _raw_request(server.url, "/gone") == b""
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/gone")


def test_malformed_is_a_200_with_truncated_json(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("garbled", fault="malformed", body={"status": "ok", "detail": "x" * 50})
    response = http.get("/garbled")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert b'{"status":"ok"'.startswith(response.content[:14])
    admin.put_endpoint("number", fault="malformed", body=42)  # no prefix of "42" may parse
    with pytest.raises(json.JSONDecodeError):
        json.loads(http.get("/number").content)


def test_hang_never_answers_and_does_not_block_other_requests(sandbox: SandboxServer, admin: SandboxAdmin) -> None:
    admin.put_endpoint("stuck", fault="hang")
    admin.put_endpoint("fine", latency_ms=20)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=sandbox.url, timeout=30) as client:
            stuck = asyncio.create_task(client.get("/stuck"))
            assert await asyncio.to_thread(eventually, lambda: sandbox.state.held_requests() == 1)
            answers = await asyncio.gather(*(client.get("/fine") for _ in range(20)))
            assert [answer.status_code for answer in answers] == [200] * 20
            assert not stuck.done()
            stuck.cancel()  # the client gives up: its connection closes
            with pytest.raises(asyncio.CancelledError):
                await stuck

    asyncio.run(scenario())
    assert eventually(lambda: sandbox.state.held_requests() == 0), "the server kept the abandoned request"
    assert admin.stats()["endpoints"]["stuck"] == {"requests": 1, "by_status": {}, "faults": {"hang": 1}}


def test_hang_makes_a_client_time_out(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("stuck", fault="hang")
    with pytest.raises(httpx.ReadTimeout):
        http.get("/stuck", timeout=0.2)


# -- phases: flapping and periodic outages, with the test's clock --------------------------------------


def test_phases_cycle_by_the_clock(clock: FakeClock, admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("twilio", phases=[{"seconds": 45}, {"seconds": 15, "status": 503, "body": {"down": True}}])
    observed = {}
    for offset in (0, 44.9, 45, 59.9, 60, 104.9, 105, 6000 + 50):
        clock.now = START + offset
        response = http.get("/twilio")
        observed[offset] = (response.status_code, response.json())
    up, down = (200, {"status": "ok"}), (503, {"down": True})
    assert observed == {0: up, 44.9: up, 45: down, 59.9: down, 60: up, 104.9: up, 105: down, 6050: down}
    clock.now = START + 50
    assert admin.endpoint("twilio")["active_phase"] == 1


def test_phases_count_from_phase_epoch(clock: FakeClock, admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("mailchimp", phase_epoch="2027-01-15T07:00:00Z",  # an hour before START
                       phases=[{"seconds": 480}, {"seconds": 120, "status": 503}])
    # 3,600 s after the epoch is 6 whole 600 s cycles: the start of an "up" phase.
    assert http.get("/mailchimp").status_code == 200
    clock.now = START + 480
    assert http.get("/mailchimp").status_code == 503
    assert admin.endpoint("mailchimp")["phase_epoch"] == "2027-01-15T07:00:00.000Z"


def test_a_phase_changes_only_what_it_names(clock: FakeClock, admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("openai", body={"model": "x"}, headers={"X-Id": "1"},
                       phases=[{"seconds": 240}, {"seconds": 60, "status": 503}, {"seconds": 10, "fault": "reset"}])
    clock.now = START + 250
    response = http.get("/openai")
    assert (response.status_code, response.json(), response.headers["x-id"]) == (503, {"model": "x"}, "1")
    clock.now = START + 305
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/openai")


def test_patch_keeps_the_rhythm_unless_phases_change(clock: FakeClock, admin: SandboxAdmin,
                                                     http: httpx.Client) -> None:
    admin.put_endpoint("twilio", phases=[{"seconds": 45}, {"seconds": 15, "status": 503}])
    clock.now = START + 50
    admin.patch_endpoint("twilio", body={"patched": True})
    assert http.get("/twilio").status_code == 503  # still in the down phase of the original cycle
    admin.patch_endpoint("twilio", phases=[{"seconds": 10, "status": 500}, {"seconds": 10}])
    assert http.get("/twilio").status_code == 500  # a new cycle starts now
    admin.patch_endpoint("twilio", phases=None)
    assert http.get("/twilio").json() == {"patched": True}
