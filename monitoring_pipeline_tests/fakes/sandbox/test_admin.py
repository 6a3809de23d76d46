"""The ``/_sandbox`` admin API over HTTP and ``SandboxAdmin``."""

from __future__ import annotations

import threading

import httpx
import pytest

from monitoring_pipeline.fakes.sandbox import SandboxAdmin, SandboxAdminError, SandboxServer
from monitoring_pipeline_tests.fakes.sandbox.conftest import START, FakeClock
from monitoring_pipeline_tests.waiting import eventually


def test_health(http: httpx.Client) -> None:
    assert http.get("/_sandbox/health").json() == {"status": "ok"}


def test_put_creates_then_replaces(admin: SandboxAdmin, http: httpx.Client) -> None:
    created = http.put("/_sandbox/endpoints/pay", json={"status": 503, "latency_ms": [1, 2]})
    assert created.status_code == 201
    view = created.json()
    assert (view["name"], view["status"], view["latency_ms"], view["active_phase"]) == ("pay", 503, [1, 2], None)
    replaced = http.put("/_sandbox/endpoints/pay", json={"name": "pay"})
    assert replaced.status_code == 200 and replaced.json()["status"] == 200  # replaced, not merged
    assert http.get("/pay").status_code == 200


def test_patch_changes_some_fields_and_null_resets_one(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("pay", latency_ms=5, body={"v": 1}, headers={"X-A": "1"})
    view = admin.patch_endpoint("pay", status=503)  # an outage starts
    assert (view["status"], view["latency_ms"], view["body"], view["headers"]) == (503, 5, {"v": 1}, {"X-A": "1"})
    assert http.get("/pay").status_code == 503
    view = admin.patch_endpoint("pay", status=None, body=None)  # and ends
    assert (view["status"], view["body"]) == (200, {"status": "ok"})
    assert http.get("/pay").json() == {"status": "ok"}


def test_listing_describes_every_endpoint(clock: FakeClock, admin: SandboxAdmin) -> None:
    admin.put_endpoint("b-flappy", phases=[{"seconds": 45}, {"seconds": 15, "status": 503}])
    admin.put_endpoint("a-key", auth="api_key", auth_token="k-123")
    clock.now = START + 46
    listing = admin.endpoints()
    assert [entry["name"] for entry in listing] == ["a-key", "b-flappy"]
    flappy = listing[1]
    assert flappy["phases"] == [{"seconds": 45.0}, {"seconds": 15.0, "status": 503}]
    assert flappy["phase_epoch"] == "2027-01-15T08:00:00.000Z" and flappy["active_phase"] == 1
    assert listing[0]["auth_token"] == "**********" and listing[0]["auth_header"] == "X-Api-Key"
    assert set(flappy) >= {"status", "latency_ms", "body", "content_type", "headers", "error_rate", "error_status",
                           "fault", "auth", "auth_token", "auth_username", "auth_password", "auth_header"}


def test_delete(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("pay")
    admin.delete_endpoint("pay")
    assert http.get("/pay").status_code == 404
    with pytest.raises(SandboxAdminError) as caught:
        admin.delete_endpoint("pay")
    assert caught.value.status_code == 404 and "no endpoint 'pay'" in caught.value.message


def test_bulk_creates_numbered_endpoints(admin: SandboxAdmin, http: httpx.Client) -> None:
    names = admin.bulk("ep", 1000, latency_ms=[100, 300], headers={"X-Bulk": "yes"})
    assert len(names) == 1000 and names[0] == "ep-0000" and names[-1] == "ep-0999"
    assert len(admin.endpoints()) == 1000
    response = http.get("/ep-0999")
    assert response.status_code == 200 and response.headers["x-bulk"] == "yes"
    assert admin.bulk("big", 10001)[-1] == "big-10000"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prefix": "ep", "count": 0}, "count: expected an integer from 1 to 100000"),
        ({"prefix": "ep", "count": True}, "count: expected an integer"),
        ({"count": 3}, "prefix: expected"),
        ({"prefix": "_ep", "count": 3}, "does not make valid endpoint names"),
        ({"prefix": "ep", "count": 3, "behaviour": {"status": 42}}, "behaviour.status: expected an HTTP status code"),
        ({"prefix": "ep", "count": 3, "behaviour": {"name": "x"}}, "behaviour: expected a JSON object"),
    ],
)
def test_bulk_refusals(http: httpx.Client, body: dict, message: str) -> None:
    response = http.post("/_sandbox/endpoints/bulk", json=body)
    assert response.status_code == 400 and message in response.json()["error"], response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("PUT", "/_sandbox/endpoints/pay", {"status": "503"}, 400, "status: expected an HTTP status code"),
        ("PUT", "/_sandbox/endpoints/pay", {"latncy_ms": 5}, 400, "latncy_ms: expected no such key"),
        ("PUT", "/_sandbox/endpoints/pay", {"auth": "bearer"}, 400, "auth_token: expected the token"),
        ("PUT", "/_sandbox/endpoints/pay", {"name": "other"}, 400, "name: expected 'pay' (the name in the path)"),
        ("PUT", "/_sandbox/endpoints/bad%20name", {}, 400, "name: expected an endpoint name"),
        ("PUT", "/_sandbox/endpoints/pay", [1], 400, "body must be a JSON object"),
        ("PATCH", "/_sandbox/endpoints/nope", {"status": 503}, 404, "no endpoint 'nope'"),
        ("GET", "/_sandbox/endpoints/nope", None, 404, "no endpoint 'nope'"),
        ("GET", "/_sandbox/nothing-here", None, 404, "no admin endpoint GET /_sandbox/nothing-here"),
        ("PUT", "/_sandbox/oauth/clients/c1", {}, 400, "oauth_clients.c1: expected a client secret"),
    ],
)
def test_admin_refusals_say_what_is_wrong(http: httpx.Client, method, path, body, status, message) -> None:
    response = http.request(method, path, json=body)
    assert response.status_code == status and message in response.json()["error"], response.text


def test_admin_refuses_invalid_json(http: httpx.Client) -> None:
    response = http.put("/_sandbox/endpoints/pay", content=b"{not json")
    assert response.status_code == 400 and response.json() == {"error": "request body must be valid JSON"}


def test_patch_that_breaks_the_behaviour_is_refused_and_changes_nothing(admin: SandboxAdmin,
                                                                         http: httpx.Client) -> None:
    admin.put_endpoint("api", auth="bearer", auth_token="t")
    with pytest.raises(SandboxAdminError, match="auth_token: expected the token"):
        admin.patch_endpoint("api", auth_token=None)
    assert http.get("/api", headers={"Authorization": "Bearer t"}).status_code == 200


def test_stats_reset_stats_and_reset(admin: SandboxAdmin, http: httpx.Client) -> None:
    admin.put_endpoint("a")
    admin.put_endpoint("b", status=500)
    for path in ("/a", "/a", "/b", "/missing"):
        http.get(path)
    stats = admin.stats()
    assert stats["total"] == 3 and stats["unknown_endpoint_requests"] == 1
    assert stats["endpoints"] == {
        "a": {"requests": 2, "by_status": {"200": 2}, "faults": {}},
        "b": {"requests": 1, "by_status": {"500": 1}, "faults": {}},
    }
    admin.reset_stats()
    assert admin.stats()["total"] == 0 and len(admin.endpoints()) == 2
    admin.reset()
    assert admin.endpoints() == [] and admin.stats()["endpoints"] == {}
    assert http.get("/a").status_code == 404


def test_server_lifecycle() -> None:
    server = SandboxServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/_sandbox/health", timeout=2)
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        SandboxServer(tls_cert="cert.pem")


def test_stop_releases_requests_held_by_hang() -> None:
    """A hanging request must not keep the server from stopping: its client sees the connection drop."""
    outcome: list[BaseException] = []
    with SandboxServer() as server, SandboxAdmin(server.url) as admin:
        admin.put_endpoint("stuck", fault="hang")

        def call() -> None:
            try:
                httpx.get(server.url + "/stuck", timeout=60)
            except httpx.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        assert eventually(lambda: server.state.held_requests() == 1)
    caller.join(30)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.RemoteProtocolError)
