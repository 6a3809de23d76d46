"""The control API both fakes serve beside their fake endpoints (``/_emulator``, ``/_sandbox``): errors answered as
``{"error": message}``, request bodies read as JSON, and the routes every admin API has (health, reset, a 404 for
any other admin path). Each fake adds its own routes; ``admin_client.AdminClient`` is the other side."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

ADMIN_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class AdminError(Exception):
    """An admin call that cannot be done; answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Resettable(Protocol):
    def reset(self) -> None: ...


async def admin_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for ``AdminError``."""
    assert isinstance(exc, AdminError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def is_admin_path(prefix: str, path: str) -> bool:
    """Whether ``path`` belongs to the control API under ``prefix``."""
    return path == prefix or path.startswith(prefix + "/")


async def read_json(request: Request, *, empty: Any = None) -> Any:
    """The request's JSON body; ``empty`` when there is none; a 400 when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AdminError(400, "request body must be valid JSON") from None


async def read_json_object(request: Request, what: str) -> dict[str, Any]:
    """The request's JSON object (``{}`` when there is no body); a 400 naming ``what`` it should hold otherwise."""
    body = await read_json(request, empty={})
    if not isinstance(body, dict):
        raise AdminError(400, f"body must be a JSON object of {what}")
    return body


def admin_routes(prefix: str, routes: Sequence[BaseRoute], state: Callable[[Request], Resettable]) -> list[BaseRoute]:
    """``GET {prefix}/health``, the fake's own ``routes``, ``POST {prefix}/reset`` (``state(request).reset()``),
    and a catch-all last so that an unknown admin path is a plain 404, never mistaken for a fake endpoint."""

    async def health(request: Request) -> Response:
        """Readiness probe."""
        return JSONResponse({"status": "ok"})

    async def reset(request: Request) -> Response:
        """Forget everything but the configuration."""
        state(request).reset()
        return JSONResponse({"status": "reset"})

    async def unknown(request: Request) -> Response:
        """Unknown admin path."""
        raise AdminError(404, f"no admin endpoint {request.method} {request.url.path}")

    return [
        Route(prefix + "/health", health, methods=["GET"]),
        *routes,
        Route(prefix + "/reset", reset, methods=["POST"]),
        Route(prefix + "/{path:path}", unknown, methods=ADMIN_METHODS),
    ]
