"""The sandbox's ASGI app: fake endpoints at ``/{name}``, OAuth2 at ``/oauth/token``, admin under ``/_sandbox``."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from monitoring_pipeline.fakes.admin import AdminError, admin_error_handler
from monitoring_pipeline.fakes.sandbox import admin
from monitoring_pipeline.fakes.sandbox.behaviour import Reply
from monitoring_pipeline.fakes.sandbox.state import SandboxState
from monitoring_pipeline.httpauth import basic_auth_key
from monitoring_pipeline.httpserver import connection_transport

TOKEN_PATH = "/oauth/token"
_JSON = ((b"content-type", b"application/json"),)
_UNKNOWN = Reply("respond", 404, _JSON, b'{"error":"unknown endpoint"}')
_NO_BODY_STATUSES = frozenset({204, 304})


def build_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox app around ``state`` (an empty sandbox when not given)."""
    state = state if state is not None else SandboxState()
    endpoint = FakeEndpoint(state)
    routes: list[BaseRoute] = [
        Route(TOKEN_PATH, oauth_token, methods=["POST"]),
        *admin.routes(),
        # The admin routes come first; endpoint names cannot start with '_' anyway.
        Route("/{name}", endpoint),
        Route("/{name}/{rest:path}", endpoint),
    ]
    app = Starlette(routes=routes, exception_handlers={AdminError: admin_error_handler})
    app.state.sandbox = state
    return app


class FakeEndpoint:
    """Answers every method on ``/{name}`` and below with endpoint ``name``'s behaviour.

    A raw ASGI app rather than a Starlette endpoint: it must be able to answer nothing at all.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        name = scope["path_params"]["name"]
        endpoint = state.endpoint(name)
        if endpoint is None:
            state.count_unknown()
            await _send(send, _UNKNOWN)
            return
        state.count_request(name)
        plan = endpoint.plan(state.clock())
        latency = plan.draw_latency_seconds(state.rng)
        if latency > 0:
            await asyncio.sleep(latency)
        reply = plan.choose_reply(scope["headers"], state.rng, state.token_valid)
        if reply.action == "reset":
            state.count_answer(name, fault="reset")
            await _drop_connection(scope, receive, send)
        elif reply.action == "hang":
            state.count_answer(name, fault="hang")
            await _hang(state, scope, receive, send)
        else:
            # Counted before sending, so stats read after a response always include it.
            state.count_answer(name, status=reply.status)
            await _send(send, reply)


async def _send(send: Send, reply: Reply) -> None:
    headers = list(reply.headers)
    body = reply.body
    if reply.status in _NO_BODY_STATUSES:
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_disconnect(receive: Receive) -> None:
    """Read (and discard) the request until the client has gone."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _abort(scope: Scope) -> bool:
    """Drop the connection at once, nothing sent; False when the server does not expose the transport."""
    transport = connection_transport(scope)
    if transport is None:
        return False
    transport.abort()
    return True


async def _drop_connection(scope: Scope, receive: Receive, send: Send) -> None:
    """The ``reset`` fault: the client sees its connection closed without any response."""
    if _abort(scope):
        # Returning only once the server has seen the connection go keeps it from sending a 500.
        await _until_disconnect(receive)
        return
    # Another ASGI server (no transport): promise a body and end without it, which makes the server
    # close the connection. The client then sees a status line, but still no usable response.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})


async def _hang(state: SandboxState, scope: Scope, receive: Receive, send: Send) -> None:
    """The ``hang`` fault: no answer until the client gives up (or the server shuts down)."""
    held = state.hold()
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({held, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        if not disconnected.done() and _abort(scope):  # released for shutdown
            await disconnected
    finally:
        held.cancel()
        disconnected.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await disconnected


async def oauth_token(request: Request) -> Response:
    """OAuth2 client credentials: ``grant_type=client_credentials``, client id/secret as Basic auth (each
    form-urlencoded before the Basic encoding, RFC 6749 section 2.3.1) or as form fields."""
    state: SandboxState = request.app.state.sandbox
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - an unparseable body is the client's bad request
        return _oauth_error(400, "invalid_request", "the body must be a form (application/x-www-form-urlencoded)")
    grant_type = form.get("grant_type")
    if not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    credentials = basic_auth_key(request.headers.get("authorization"))
    if credentials is not None:
        credentials = (unquote_plus(credentials[0]), unquote_plus(credentials[1]))
    else:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        credentials = (client_id, secret) if isinstance(client_id, str) and isinstance(secret, str) else None
    token = state.issue_token(*(credentials or (None, None)))
    if token is None:
        return _oauth_error(401, "invalid_client", "client authentication failed")
    body = {"access_token": token, "token_type": "Bearer", "expires_in": state.config.token_lifetime_seconds}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="sandbox"'} if status == 401 else None
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)
