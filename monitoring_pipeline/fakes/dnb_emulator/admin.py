"""The ``/_emulator`` control API used by tests, demos and tools (never part of D&B)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.admin import AdminError, admin_routes, read_json
from monitoring_pipeline.fakes.dnb_emulator.faults import Faults
from monitoring_pipeline.fakes.dnb_emulator.models import NOTIFICATION_TYPES, RegistrationSpec, SpecError, is_duns
from monitoring_pipeline.fakes.dnb_emulator.state import DuplicateRegistration, EmulatorState

PREFIX = "/_emulator"
MAX_GENERATE = 100_000
MAX_STREAM_PER_MINUTE = 60_000.0


def routes() -> list[BaseRoute]:
    """Admin routes, including an admin catch-all so unknown admin paths are plain 404s."""
    return admin_routes(PREFIX, [
        Route(PREFIX + "/registrations", create_registration, methods=["POST"]),
        Route(PREFIX + "/registrations", list_registrations, methods=["GET"]),
        Route(PREFIX + "/registrations/{reference}", registration_view, methods=["GET"]),
        Route(PREFIX + "/registrations/{reference}/notifications", add_notifications, methods=["POST"]),
        Route(PREFIX + "/faults", faults, methods=["GET", "POST"]),
        Route(PREFIX + "/clock", clock, methods=["GET", "POST"]),
        Route(PREFIX + "/deliveries", deliveries, methods=["GET"]),
        Route(PREFIX + "/stats", stats, methods=["GET"]),
    ], _state)


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def create_registration(request: Request) -> Response:
    """Create a registration (with optional subjects and suppression); 409 on a duplicate reference."""
    state = _state(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise AdminError(400, "body must be a JSON object with at least 'reference'")
    try:
        spec = RegistrationSpec.from_mapping(body)
    except SpecError as exc:
        raise AdminError(400, str(exc)) from None
    try:
        await run_in_threadpool(state.create_registration, spec)
    except DuplicateRegistration:
        raise AdminError(409, f"registration {spec.reference!r} already exists") from None
    messages = state.registration_messages(spec.reference)
    return JSONResponse({"inquiryDetail": {"reference": spec.reference}, "messages": messages}, status_code=201)


async def list_registrations(request: Request) -> Response:
    """Admin views of every registration."""
    state = _state(request)
    return JSONResponse({"registrations": [state.admin_view(ref) for ref in state.references()]})


async def registration_view(request: Request) -> Response:
    """Subjects, suppression, queue length, delivered count, rejected batch lines, stream."""
    return JSONResponse(_state(request).admin_view(request.path_params["reference"]))


async def add_notifications(request: Request) -> Response:
    """Queue notifications as given, generate some, or start/stop a live stream."""
    state = _state(request)
    reference = request.path_params["reference"]
    state.ensure_registration(reference)  # unknown reference -> 404 before body errors
    body = await read_json(request)
    if isinstance(body, dict) and isinstance(body.get("notifications"), list):
        body = body["notifications"]
    if isinstance(body, list):
        if not all(isinstance(item, dict) for item in body):
            raise AdminError(400, "every notification must be a JSON object")
        queued, pending = state.queue_notifications(reference, body)
        return JSONResponse({"queued": queued, "pending": pending})
    if isinstance(body, dict) and "stream" in body:
        return _set_stream(state, reference, body["stream"])
    if isinstance(body, dict) and "generate" in body:
        count = _generate_count(body["generate"])
        types = _types(body.get("types"))
        duns = _duns_list(body.get("duns"))
        queued, pending = await run_in_threadpool(state.generate_notifications, reference, count, types, duns)
        return JSONResponse({"queued": queued, "pending": pending})
    raise AdminError(
        400, "body must be a JSON list of notifications, or an object with 'notifications', 'generate' or 'stream'"
    )


def _set_stream(state: EmulatorState, reference: str, raw: object) -> Response:
    if not isinstance(raw, dict):
        raise AdminError(400, 'stream must be an object like {"per_minute": 12, "types": {...}}')
    per_minute = raw.get("per_minute")
    if isinstance(per_minute, bool) or not isinstance(per_minute, int | float) or not math.isfinite(per_minute):
        raise AdminError(400, "stream.per_minute must be a number (0 stops the stream)")
    if not 0 <= per_minute <= MAX_STREAM_PER_MINUTE:
        raise AdminError(400, f"stream.per_minute must be between 0 and {MAX_STREAM_PER_MINUTE:g}")
    stream = state.set_stream(reference, float(per_minute), _types(raw.get("types")))
    pending = state.admin_view(reference)["pending"]
    return JSONResponse({"queued": 0, "pending": pending, "stream": stream.as_json() if stream else None})


def _generate_count(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_GENERATE:
        raise AdminError(400, f"generate must be an integer between 1 and {MAX_GENERATE}")
    return raw


def _types(raw: object) -> dict[str, float] | None:
    """A type mix: known notification types mapped to non-negative weights, not all zero."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise AdminError(400, "types must be a non-empty object of notification type -> weight")
    unknown = sorted(name for name in raw if name not in NOTIFICATION_TYPES)
    if unknown:
        raise AdminError(400, f"unknown notification types {unknown}; known: {list(NOTIFICATION_TYPES)}")
    weights = {}
    for name, weight in raw.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise AdminError(400, f"types.{name} must be a number of 0 or more")
        weights[name] = float(weight)
    if not any(weights.values()):
        raise AdminError(400, "types must have at least one positive weight")
    return weights


def _duns_list(raw: object) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(is_duns(d) for d in raw):
        raise AdminError(400, "duns must be a non-empty list of 9-digit DUNS strings")
    return list(raw)


async def faults(request: Request) -> Response:
    """GET shows the active faults; POST replaces them (``{}`` or ``{"clear": true}`` clears)."""
    state = _state(request)
    if request.method == "GET":
        return JSONResponse(state.describe_faults())
    body = await read_json(request, empty={})
    try:
        parsed = Faults.from_json(body)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return JSONResponse(state.set_faults(parsed))


async def clock(request: Request) -> Response:
    """GET reads the emulator clock; POST ``{"advance_seconds": N}`` moves it forward."""
    state = _state(request)
    if request.method == "GET":
        return JSONResponse({"now": format_millis(state.now())})
    body = await read_json(request)
    seconds = body.get("advance_seconds") if isinstance(body, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise AdminError(400, 'body must be {"advance_seconds": N} with N a number of 0 or more')
    try:
        now = state.advance(float(seconds))
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    return JSONResponse({"now": format_millis(now)})


async def deliveries(request: Request) -> Response:
    """The delivery log, optionally of one registration."""
    log = _state(request).deliveries(request.query_params.get("reference"))
    return JSONResponse({"count": len(log), "deliveries": log})


async def stats(request: Request) -> Response:
    """Call counters, status counts, busiest second per key, tokens, expiries."""
    return JSONResponse(_state(request).stats_json())
