"""The ``/_sandbox`` control API: endpoints, OAuth clients, counters (used by tests, the demo and benchmarks)."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitoring_pipeline.config_errors import first_problem
from monitoring_pipeline.fakes.admin import AdminError, admin_routes, read_json_object
from monitoring_pipeline.fakes.sandbox.behaviour import EndpointBehaviour
from monitoring_pipeline.fakes.sandbox.scenario import ClientId, ClientSecret
from monitoring_pipeline.fakes.sandbox.state import MAX_BULK, SandboxState, UnknownEndpoint

PREFIX = "/_sandbox"
_CLIENTS = TypeAdapter(dict[ClientId, ClientSecret])


def routes() -> list[BaseRoute]:
    """Admin routes, including an admin catch-all so unknown admin paths are plain 404s."""
    return admin_routes(PREFIX, [
        Route(PREFIX + "/endpoints", list_endpoints, methods=["GET"]),
        # Before {name}: POST .../bulk is the bulk call; other methods on "bulk" reach the endpoint routes.
        Route(PREFIX + "/endpoints/bulk", bulk, methods=["POST"]),
        Route(PREFIX + "/endpoints/{name}", endpoint, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(PREFIX + "/oauth/clients", list_clients, methods=["GET"]),
        Route(PREFIX + "/oauth/clients/{client_id}", put_client, methods=["PUT"]),
        Route(PREFIX + "/stats", stats, methods=["GET"]),
        Route(PREFIX + "/stats/reset", reset_stats, methods=["POST"]),
    ], _state)


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox


def _invalid(error: ValidationError, prefix: str = "") -> AdminError:
    field, form, got = first_problem(error, prefix)
    location = f"{field}: " if field else ""
    return AdminError(400, f"{location}expected {form}" + (f", got {got}" if got is not None else ""))


async def list_endpoints(request: Request) -> Response:
    """Every endpoint's behaviour (secrets masked) and the configured OAuth client ids."""
    state = _state(request)
    now = state.clock()
    views = [endpoint.public_view(now) for endpoint in state.endpoints()]
    return JSONResponse({"endpoints": views, "oauth_clients": state.client_ids()})


async def endpoint(request: Request) -> Response:
    """GET one endpoint, PUT (create or replace), PATCH (change some fields; null resets one), DELETE."""
    state = _state(request)
    name = request.path_params["name"]
    try:
        if request.method == "GET":
            found = state.endpoint(name)
            if found is None:
                raise UnknownEndpoint(name)
            return JSONResponse(found.public_view(state.clock()))
        if request.method == "DELETE":
            state.delete(name)
            return JSONResponse({"deleted": name})
        body = await read_json_object(request, "endpoint behaviour fields")
        if body.get("name", name) != name:
            raise AdminError(400, f"name: expected {name!r} (the name in the path), got {body['name']!r}")
        if request.method == "PATCH":
            changed = state.patch(name, {key: value for key, value in body.items() if key != "name"})
            return JSONResponse(changed.public_view(state.clock()))
        existed = state.endpoint(name) is not None
        created = state.put(EndpointBehaviour.model_validate({**body, "name": name}))
        return JSONResponse(created.public_view(state.clock()), status_code=200 if existed else 201)
    except UnknownEndpoint:
        raise AdminError(404, f"no endpoint {name!r}") from None
    except ValidationError as error:
        raise _invalid(error) from None


async def bulk(request: Request) -> Response:
    """``{"prefix": "ep", "count": 1000, "behaviour": {...}}`` creates ``ep-0000`` … ``ep-0999``."""
    body = await read_json_object(request, "prefix, count and behaviour")
    prefix, count, behaviour = body.get("prefix"), body.get("count"), body.get("behaviour", {})
    if not isinstance(prefix, str):
        raise AdminError(400, "prefix: expected the text the names start with, such as 'ep'")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK:
        raise AdminError(400, f"count: expected an integer from 1 to {MAX_BULK}, got {count!r}")
    if not isinstance(behaviour, dict) or "name" in behaviour:
        raise AdminError(400, "behaviour: expected a JSON object of endpoint fields (without name)")
    try:
        names = _state(request).bulk(prefix, count, behaviour)
    except ValidationError as error:
        raise _invalid(error, "behaviour.") from None
    except ValueError as error:
        raise AdminError(400, str(error)) from None
    return JSONResponse({"created": len(names), "names": names}, status_code=201)


async def list_clients(request: Request) -> Response:
    """Configured OAuth client ids (never their secrets)."""
    return JSONResponse({"oauth_clients": _state(request).client_ids()})


async def put_client(request: Request) -> Response:
    """Add or replace an OAuth client: ``{"secret": "..."}``."""
    body = await read_json_object(request, '{"secret": "..."}')
    client_id = request.path_params["client_id"]
    try:
        ((checked_id, secret),) = _CLIENTS.validate_python({client_id: body.get("secret")}).items()
    except ValidationError as error:
        raise _invalid(error, "oauth_clients.") from None
    _state(request).set_client(checked_id, secret)
    return JSONResponse({"oauth_client": checked_id})


async def stats(request: Request) -> Response:
    """Requests per endpoint, by status and by fault, plus unknown-endpoint and token requests."""
    return JSONResponse(_state(request).stats())


async def reset_stats(request: Request) -> Response:
    """Zero the counters, keep the endpoints."""
    _state(request).reset_stats()
    return JSONResponse({"status": "stats reset"})
