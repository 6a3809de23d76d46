"""The aiohttp transport under httpx sends what httpx would and fails as httpcore would: against a real receiver."""

from __future__ import annotations

import asyncio
import gzip
import socket

import httpx
import pytest

from monitoring_pipeline.aiohttp_transport import AiohttpTransport
from monitoring_pipeline.fakes.inbox import RecordingReceiver, Reply
from monitoring_pipeline.httpserver import free_port


@pytest.fixture
def receiver():
    with RecordingReceiver() as server:
        yield server


def request(method: str, url: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=AiohttpTransport(max_connections=2)) as client:
            return await client.request(method, url, **kwargs)
    return asyncio.run(go())


def test_sends_exactly_httpx_headers_and_body(receiver):
    url, body = f"{receiver.url}/hook?x=1", b'{"a":1}'
    headers = {"Content-Type": "application/json", "Idempotency-Key": "g1:1:trigger:ops",
               "User-Agent": "monitoring-pipeline-alerting/1"}
    response = request("POST", url, content=body, headers=headers)
    assert (response.status_code, response.text) == (200, "ok")
    [got] = receiver.received("/hook")
    assert (got.method, got.query, got.body) == ("POST", "x=1", body)
    with httpx.Client() as client:  # what httpx's own transport would have sent: nothing more, nothing less
        expected = client.build_request("POST", url, content=body, headers=headers).headers
    assert got.headers == {name.lower(): value for name, value in expected.items()}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_without_a_body_is_sent_as_httpx_would(receiver, method):
    assert request(method, f"{receiver.url}/empty", auth=("user", "pass")).status_code == 200
    [got] = receiver.received("/empty")
    with httpx.Client() as client:
        expected = client.build_request(method, f"{receiver.url}/empty").headers
    assert (got.method, got.body) == (method, b"")
    assert {k: v for k, v in got.headers.items() if k != "authorization"} == \
        {name.lower(): value for name, value in expected.items()}
    assert got.headers["authorization"] == "Basic dXNlcjpwYXNz"


def test_answer_status_headers_and_compressed_body(receiver):
    receiver.script("/limited", Reply(429, gzip.compress(b"slow down"),
                                      {"Retry-After": "7", "Content-Encoding": "gzip"}))
    response = request("POST", f"{receiver.url}/limited", content=b"x")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.content == b"slow down"  # httpx decodes, as with its own transport


def test_redirects_are_not_followed(receiver):
    receiver.script("/moved", Reply(302, b"", {"Location": f"{receiver.url}/elsewhere"}))
    assert request("POST", f"{receiver.url}/moved", content=b"x").status_code == 302
    assert receiver.received("/elsewhere") == []


def test_a_hanging_receiver_is_a_timeout(receiver):
    receiver.script("/hang", Reply(hang=True))
    with pytest.raises(httpx.TimeoutException):
        request("POST", f"{receiver.url}/hang", content=b"x", timeout=0.5)


def test_nobody_listening_is_a_connect_error():
    with pytest.raises(httpx.ConnectError):
        request("POST", f"http://127.0.0.1:{free_port()}/", content=b"x")


def test_a_dropped_connection_is_a_transport_error():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        async def go() -> None:
            async def drop() -> None:
                loop = asyncio.get_running_loop()
                connection, _ = await loop.sock_accept(server)
                await loop.sock_recv(connection, 65536)
                connection.close()

            server.setblocking(False)
            dropper = asyncio.ensure_future(drop())
            try:
                async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
                    await client.post(f"http://127.0.0.1:{port}/", content=b"x", timeout=5)
            finally:
                await dropper

        with pytest.raises(httpx.TransportError):
            asyncio.run(go())
