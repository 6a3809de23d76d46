"""The emulator's ASGI app: D&B Direct+ token and Monitoring endpoints plus the ``/_emulator`` admin API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.fakes.admin import AdminError, admin_error_handler
from monitoring_pipeline.fakes.dnb_emulator import admin, envelope, errors
from monitoring_pipeline.fakes.dnb_emulator.config import EmulatorConfig
from monitoring_pipeline.fakes.dnb_emulator.errors import DnbError
from monitoring_pipeline.fakes.dnb_emulator.middleware import (
    GatewayMiddleware,
    basic_auth_key,
    bearer_token,
    is_admin_path,
)
from monitoring_pipeline.fakes.dnb_emulator.models import RegistrationSpec, SpecError, is_duns
from monitoring_pipeline.fakes.dnb_emulator.state import DuplicateRegistration, EmulatorState

logger = logging.getLogger(__name__)

MONITORING = "/v1/monitoring/registrations"
PUMP_INTERVAL_SECONDS = 0.5
_DIGITS = re.compile(r"^[0-9]+$")


def create_app(config: EmulatorConfig, state: EmulatorState | None = None) -> Starlette:
    """Build the emulator app around ``state`` (a fresh one when not given)."""
    if state is None:
        state = EmulatorState(config)
    elif state.config != config:
        raise ValueError("state was built with a different EmulatorConfig")
    # The catch-all goes last so admin routes are reachable.
    routes = [*_dnb_routes(), *admin.routes(), _catch_all_route()]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GatewayMiddleware, state=state, routes=routes)],
        exception_handlers={DnbError: _dnb_error_handler, AdminError: admin_error_handler},
        lifespan=_lifespan,
    )
    app.state.emulator = state
    return app


def _dnb_routes() -> list[BaseRoute]:
    """The D&B Direct+ endpoints."""
    subject_methods = ["GET", "POST", "DELETE"]
    return [
        Route("/v3/token", token_v3, methods=["POST"]),
        Route("/v2/token", token_v2, methods=["POST"]),
        Route(MONITORING, list_registrations, methods=["GET"]),
        Route(MONITORING, create_registration, methods=["POST"]),
        Route(MONITORING + "/{reference}", registration_details, methods=["GET"]),
        Route(MONITORING + "/{reference}/subjects", batch_subjects, methods=["PATCH"]),
        Route(MONITORING + "/{reference}/subjects/{duns}", subject, methods=subject_methods),
        Route(MONITORING + "/{reference}/duns/{duns}", subject, methods=subject_methods),
        Route(MONITORING + "/{reference}/suppress", suppress, methods=["PUT", "DELETE"]),
        Route(MONITORING + "/{reference}/notifications", pull, methods=["GET"]),
        Route(MONITORING + "/{reference}/notifications/replay", replay, methods=["GET"]),
    ]


def _catch_all_route() -> BaseRoute:
    """Every other path answers D&B's 404 ``00037``."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Route("/{path:path}", unknown_path, methods=methods)


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Runs the pump that feeds live streams and applies due batch uploads."""
    task = asyncio.create_task(_pump(app.state.emulator))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _pump(state: EmulatorState) -> None:
    while True:
        await asyncio.sleep(PUMP_INTERVAL_SECONDS)
        try:
            state.pump_streams()
            state.tick()
        except Exception:  # noqa: BLE001 - a broken stream must not stop the pump
            logger.exception("emulator stream pump failed")


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


async def _dnb_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DnbError)
    if is_admin_path(request.url.path):
        body: dict[str, Any] = {"error": exc.message, "code": exc.code}
        return JSONResponse(body, status_code=exc.status)
    return envelope.error_response(_state(request).now(), exc)


# ----- authentication --------------------------------------------------------------------------

_MISSING_GRANT = (
    "Request missing required element: 'grant_type'. ErrorCode: 05007. "
    "Use grant_type=client_credentials in the request body."
)


async def token_v3(request: Request) -> Response:
    """OAuth2 client credentials, form body; errors in the OAuth shape."""
    form = await _safe_form(request)
    grant_type = form.get("grant_type") if form is not None else None
    if not grant_type:
        return JSONResponse({"error": "invalid_request", "error_description": _MISSING_GRANT}, status_code=400)
    if grant_type != "client_credentials":
        description = "Unsupported grant_type; only client_credentials is supported. ErrorCode: 05007."
        return JSONResponse({"error": "unsupported_grant_type", "error_description": description}, status_code=400)
    key = _checked_basic_key(request)
    if key is None:
        description = "Client authentication failed: invalid consumer key or secret. ErrorCode: 00041."
        return JSONResponse({"error": "invalid_client", "error_description": description}, status_code=401)
    state = _state(request)
    token = state.issue_token(key)
    body = {"access_token": token, "expires_in": state.config.token_lifetime_seconds, "token_type": "Bearer"}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def token_v2(request: Request) -> Response:
    """Client credentials with a JSON body; errors in the Direct+ envelope."""
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    grant_type = body.get("grant_type") if isinstance(body, dict) else None
    if grant_type != "client_credentials":
        raise errors.invalid_parameter("grant_type", "grant_type is required and must be 'client_credentials'")
    key = _checked_basic_key(request)
    if key is None:
        raise errors.bad_credentials()
    state = _state(request)
    token = state.issue_token(key)
    return JSONResponse({"access_token": token, "expiresIn": state.config.token_lifetime_seconds})


def _checked_basic_key(request: Request) -> str | None:
    credentials = basic_auth_key(request.headers.get("authorization"))
    if credentials is None or not _state(request).check_credentials(*credentials):
        return None
    return credentials[0]


def _authenticate(request: Request) -> EmulatorState:
    """Require a valid bearer token; returns the state for convenience."""
    state = _state(request)
    state.authenticate(bearer_token(request.headers.get("authorization")))
    return state


# ----- registrations ---------------------------------------------------------------------------


async def list_registrations(request: Request) -> Response:
    """References of every registration."""
    state = _authenticate(request)
    return envelope.success(state.now(), {"messages": {"references": state.references()}})


async def create_registration(request: Request) -> Response:
    """D&B-internal create (JSON or multipart form), offered so demos can use the public surface."""
    state = _authenticate(request)
    data = await _json_or_form(request)
    try:
        spec = RegistrationSpec.from_mapping(data)
        state.create_registration(spec)
    except SpecError as exc:
        raise errors.invalid_parameter(exc.field, exc.message) from None
    except DuplicateRegistration:
        raise errors.invalid_parameter("reference", "a registration with this reference already exists") from None
    body = {"inquiryDetail": {"reference": spec.reference}, "messages": state.registration_messages(spec.reference)}
    return envelope.success(state.now(), body, status=201)


async def registration_details(request: Request) -> Response:
    """Details of one registration."""
    state = _authenticate(request)
    reference = request.path_params["reference"]
    body = {"inquiryDetail": {"reference": reference}, "messages": state.registration_messages(reference)}
    return envelope.success(state.now(), body)


async def subject(request: Request) -> Response:
    """Add (POST), remove (DELETE) or check (GET) one DUNS."""
    state = _authenticate(request)
    reference, duns = request.path_params["reference"], request.path_params["duns"]
    if not is_duns(duns):
        raise errors.invalid_parameter("duns", "DUNS must be exactly 9 digits")
    inquiry = {"reference": reference, "duns": duns}
    if request.method == "POST":
        state.add_subject(reference, duns)
        return envelope.information(state.now(), "21113", f"DUNS {duns} added to the registration.", inquiry)
    if request.method == "DELETE":
        state.remove_subject(reference, duns)
        return envelope.information(state.now(), "21114", f"DUNS {duns} removed from the registration.", inquiry)
    if not state.has_subject(reference, duns):
        raise errors.duns_not_found(duns)
    return envelope.information(state.now(), "21110", f"DUNS {duns} is part of the registration.", inquiry)


async def batch_subjects(request: Request) -> Response:
    """Batch add/remove from multipart file parts; accepted now, applied asynchronously."""
    state = _authenticate(request)
    reference = request.path_params["reference"]
    state.ensure_registration(reference)  # 21501 before looking at the body
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise errors.invalid_parameter("addSubjectIDs", "expected a multipart/form-data upload")
    form = await _safe_form(request)
    if form is None:
        raise errors.invalid_parameter("addSubjectIDs", "the multipart body could not be parsed")
    add_text = await _part_text(form.get("addSubjectIDs"))
    remove_text = await _part_text(form.get("removeSubjectIDs"))
    if add_text is None and remove_text is None:
        raise errors.invalid_parameter("addSubjectIDs", "a file part addSubjectIDs or removeSubjectIDs is required")
    state.submit_batch(reference, add_text, remove_text)
    message = "Request accepted. The subjects will be processed asynchronously."
    return envelope.information(state.now(), "21108", message, {"reference": reference}, status=202)


async def suppress(request: Request) -> Response:
    """PUT holds notifications, DELETE releases them."""
    state = _authenticate(request)
    reference = request.path_params["reference"]
    suppressed = request.method == "PUT"
    state.set_suppressed(reference, suppressed)
    message = "Notifications suppressed." if suppressed else "Notifications unsuppressed."
    return envelope.information(state.now(), None, message, {"reference": reference})


# ----- pull and replay -------------------------------------------------------------------------


async def pull(request: Request) -> Response:
    """Destructive read of up to ``maxNotifications`` notifications."""
    state = _authenticate(request)
    reference = request.path_params["reference"]
    state.ensure_registration(reference)  # 21501 before parameter errors
    count = _max_notifications(request, state.config.max_notifications_cap)
    notifications = state.pull(reference, count)
    return envelope.success(state.now(), {"inquiryDetail": {"reference": reference}, "notifications": notifications})


async def replay(request: Request) -> Response:
    """Re-read already delivered notifications stamped after ``replayStartTimestamp``."""
    state = _authenticate(request)
    reference = request.path_params["reference"]
    state.ensure_registration(reference)
    start = _replay_start(request)
    count = _max_notifications(request, state.config.max_notifications_cap)
    notifications = state.replay(reference, start, count)
    return envelope.success(state.now(), {"inquiryDetail": {"reference": reference}, "notifications": notifications})


def _max_notifications(request: Request, cap: int) -> int:
    raw = request.query_params.get("maxNotifications")
    if raw is None:
        return 1
    description = f"maxNotifications must be an integer between 1 and {cap}"
    if not _DIGITS.match(raw.strip()):
        raise errors.invalid_parameter("maxNotifications", description)
    value = int(raw.strip())
    if not 1 <= value <= cap:
        raise errors.invalid_parameter("maxNotifications", description)
    return value


def _replay_start(request: Request) -> datetime:
    raw = request.query_params.get("replayStartTimestamp")
    if not raw or not raw.strip():
        raise errors.invalid_parameter("replayStartTimestamp", "replayStartTimestamp is required")
    try:
        return parse_dnb_timestamp(raw)
    except ValueError:
        raise errors.invalid_parameter(
            "replayStartTimestamp", "must be an ISO-8601 UTC date-time such as 2026-11-20T10:00:00.000Z"
        ) from None


async def unknown_path(request: Request) -> Response:
    """Anything that is not a D&B endpoint."""
    raise errors.unknown_path()


# ----- body helpers ------------------------------------------------------------------------------


async def _safe_form(request: Request) -> FormData | None:
    """The parsed form, or None when the body is not a parseable form."""
    try:
        return await request.form()
    except Exception:  # noqa: BLE001 - any parser failure is the client's bad request
        return None


async def _part_text(part: UploadFile | str | None) -> str | None:
    if part is None:
        return None
    raw = await part.read() if isinstance(part, UploadFile) else part.encode()
    return raw.decode("utf-8-sig", errors="replace")


async def _json_or_form(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await _safe_form(request)
        if form is None:
            raise errors.invalid_parameter("reference", "the form body could not be parsed")
        return {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise errors.invalid_parameter("reference", "the body must be a JSON object or a multipart form")
    return data
