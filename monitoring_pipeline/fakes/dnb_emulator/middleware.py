"""The gateway in front of every D&B endpoint: arrival stamps, stats, rate limit and injected faults.

Admin (``/_emulator``) calls pass straight through: they are never counted, limited or faulted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitoring_pipeline.fakes import admin
from monitoring_pipeline.fakes.dnb_emulator import envelope, errors
from monitoring_pipeline.fakes.dnb_emulator.admin import PREFIX as ADMIN_PREFIX
from monitoring_pipeline.fakes.dnb_emulator.faults import FaultDraw
from monitoring_pipeline.fakes.dnb_emulator.state import EmulatorState
from monitoring_pipeline.httpauth import basic_auth_key, bearer_token

__all__ = ["GatewayMiddleware", "basic_auth_key", "bearer_token", "is_admin_path"]

TOKEN_PATHS = frozenset({"/v2/token", "/v3/token"})


def is_admin_path(path: str) -> bool:
    """Whether ``path`` belongs to the emulator's control API."""
    return admin.is_admin_path(ADMIN_PREFIX, path)


class GatewayMiddleware:
    """Pure ASGI middleware so the arrival is stamped before any body is read or routed."""

    def __init__(self, app: ASGIApp, state: EmulatorState, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        arrival = time.monotonic()
        path = scope["path"]
        key = self._consumer_key(scope)
        if not self.state.admit_call(key, arrival, self._route_label(scope)):
            rejection = errors.too_many_requests(self.state.config.retry_after_seconds)
            await self._reply(envelope.error_response(self.state.now(), rejection), scope, receive, send)
            return
        draw = self.state.draw_faults(path)
        if draw.latency_seconds:
            await asyncio.sleep(draw.latency_seconds)
        if await self._short_circuit(draw, scope, receive, send):
            return
        status = await self._forward(draw, scope, receive, send)
        self.state.record_response(status)
        if 200 <= status < 300 and path not in TOKEN_PATHS:
            self.state.note_successful_call()

    def _consumer_key(self, scope: Scope) -> str | None:
        authorization = Headers(scope=scope).get("authorization")
        if scope["path"] in TOKEN_PATHS:
            credentials = basic_auth_key(authorization)
            return credentials[0] if credentials else None
        return self.state.token_owner(bearer_token(authorization))

    def _route_label(self, scope: Scope) -> str:
        """``METHOD /route/{template}`` so stats group calls by endpoint, not by URL."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return f"{scope['method']} {getattr(route, 'path', scope['path'])}"
        return f"{scope['method']} {scope['path']}"

    async def _short_circuit(self, draw: FaultDraw, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer an injected 429 or 5xx without touching the endpoint (nothing is consumed)."""
        spec = draw.response_fault
        if spec is None or spec.kind not in ("http_429", "http_5xx"):
            return False
        now = self.state.now()
        if spec.kind == "http_429":
            retry_after = spec.retry_after if spec.retry_after is not None else self.state.config.retry_after_seconds
            response = envelope.error_response(now, errors.too_many_requests(retry_after))
        else:
            response = envelope.server_error(now, spec.status)
        await self._reply(response, scope, receive, send)
        return True

    async def _reply(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        self.state.record_response(response.status_code)
        await response(scope, receive, send)

    async def _forward(self, draw: FaultDraw, scope: Scope, receive: Receive, send: Send) -> int:
        """Run the endpoint; spoil its response when a drop or truncation fault fired. Returns the status."""
        if draw.kind not in ("drop_connection", "truncate_json"):
            status = 500

            async def send_and_watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, send_and_watch)
            return status
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if draw.kind == "drop_connection":
            await _send_then_drop(start, body, send)
        else:
            await _send_truncated(start, body, send)
        return int(start["status"])


async def _send_then_drop(start: Message, body: bytes, send: Send) -> None:
    """Promise the whole body, deliver half, and return: the server then closes the connection."""
    await send(start)
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})


async def _send_truncated(start: Message, body: bytes, send: Send) -> None:
    """A complete HTTP exchange whose body is only the first half of the JSON."""
    cut = body[: len(body) // 2]
    headers = [(name, value) for name, value in start.get("headers", []) if name.lower() != b"content-length"]
    headers.append((b"content-length", str(len(cut)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": cut, "more_body": False})
