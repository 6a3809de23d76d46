"""What both fakes' control APIs do alike, through the one plumbing (``fakes.admin``, ``fakes.admin_client``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from monitoring_pipeline.fakes.admin_client import AdminCallError, AdminClient
from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig, EmulatorServer
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.fakes.sandbox import SandboxAdmin, SandboxServer
from monitoring_pipeline.httpserver import BackgroundServer


@dataclass
class Fake:
    server: BackgroundServer
    client: type[AdminClient]
    prefix: str
    bad_json_call: tuple[str, str]  # a call whose body is read as JSON


@pytest.fixture(scope="module", params=["dnb_emulator", "sandbox"])
def fake(request: pytest.FixtureRequest) -> Iterator[Fake]:
    if request.param == "dnb_emulator":
        server: BackgroundServer = EmulatorServer(EmulatorConfig("key", "secret"))
        described = Fake(server, EmulatorAdmin, "/_emulator", ("POST", "/faults"))
    else:
        server = SandboxServer()
        described = Fake(server, SandboxAdmin, "/_sandbox", ("PUT", "/endpoints/pay"))
    with server:
        yield described


def test_health(fake: Fake) -> None:
    response = httpx.get(f"{fake.server.url}{fake.prefix}/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_an_unknown_admin_path_is_a_plain_404_never_a_fake_endpoint(fake: Fake, method: str) -> None:
    response = httpx.request(method, f"{fake.server.url}{fake.prefix}/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": f"no admin endpoint {method} {fake.prefix}/no/such/thing"}


def test_a_body_that_is_not_json_is_refused(fake: Fake) -> None:
    method, path = fake.bad_json_call
    response = httpx.request(method, f"{fake.server.url}{fake.prefix}{path}", content=b"{not json")
    assert (response.status_code, response.json()) == (400, {"error": "request body must be valid JSON"})


def test_a_refused_call_raises_with_the_fakes_explanation(fake: Fake) -> None:
    with fake.client(fake.server.url) as client, pytest.raises(AdminCallError) as raised:
        client._json("GET", "/no/such/thing")
    error = raised.value
    assert isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 404
    assert error.status_code == 404 and error.message == f"no admin endpoint GET {fake.prefix}/no/such/thing"
    assert str(error) == f"404: {error.message}"


def test_reset_through_the_client(fake: Fake) -> None:
    with fake.client(fake.server.url) as client:
        if isinstance(client, EmulatorAdmin):
            client.create_registration("SHARED")
            client.reset()
            assert httpx.get(f"{fake.server.url}/_emulator/registrations").json() == {"registrations": []}
        else:
            assert isinstance(client, SandboxAdmin)
            client.put_endpoint("pay")
            client.reset()
            assert client.endpoints() == []
