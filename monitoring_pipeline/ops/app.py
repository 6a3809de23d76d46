"""The ops service's ASGI app (`monitoring-pipeline serve`): the status page, /metrics, health, the JSON API,
inbound webhooks and acknowledgement links, all read from (and written to) the project database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from monitoring_pipeline.alerting.config import AlertingConfig
from monitoring_pipeline.alerting.dispatch import LinkBuilder
from monitoring_pipeline.alerting.files import load_alerting_files
from monitoring_pipeline.config_errors import ConfigFileError
from monitoring_pipeline.httpauth import bearer_token
from monitoring_pipeline.notifications.registrations import RegistrationConfigError, load_registrations
from monitoring_pipeline.ops import ack_links, alert_reads, api, webhooks
from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.ops.health import FAIL, readiness
from monitoring_pipeline.ops.metrics import metrics_collector
from monitoring_pipeline.ops.openapi import openapi_document
from monitoring_pipeline.ops.pages import Pages
from monitoring_pipeline.ops.snapshot import StatusReader
from monitoring_pipeline.settings import ProjectSettings, read_secret

_log = logging.getLogger(__name__)
TOKEN_COOKIE = "ops_token"
EVENT_INTERVAL_SECONDS = 5.0
REFRESH_SECONDS = 5.0
PAGE_MAX_AGE_SECONDS = 2.0  # the status page and the event stream share snapshots at most this old


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=json_default, separators=(",", ":")).encode()


def problem(status: int, reason: str) -> JSON:
    return JSON({"error": reason}, status_code=status)


class OpsService:
    """The app's state: configuration, database, readers; ``app`` is the Starlette application."""

    def __init__(self, engine: Engine, settings: ProjectSettings, config: OpsConfig,
                 extra_routes: Sequence[BaseRoute] = (), event_interval: float = EVENT_INTERVAL_SECONDS) -> None:
        self.engine = engine
        self.settings = settings
        self.config = config
        self.reader = StatusReader(engine, settings, title=config.service.title)
        self.metrics_collector = metrics_collector(self.reader)
        self.pages = Pages(config)
        self.event_interval = event_interval
        self.links: LinkBuilder | None = ack_links.notification_links(config)
        routes: list[BaseRoute] = [
            Route("/", self.status_page),
            Route("/alerts/{alert_id:int}", self.alert_page),
            Route("/integrations/{name}", self.integration_page),
            Route("/events", self.events),
            Route("/metrics", self.metrics),
            Route("/health/live", self.live),
            Route("/health/ready", self.ready),
            Route("/openapi.json", self.openapi),
            Route("/webhooks/{source}", self.webhook, methods=["POST"]),
            Route("/ack/{token}", self.ack_page, methods=["GET"]),
            Route("/ack/{token}", self.ack_post, methods=["POST"]),
            *api.routes(self),
            # Extra routes (e.g. ops/ping.py's push heartbeats) are mounted by whoever builds the service.
            *extra_routes,
        ]
        self.app = Starlette(routes=routes, exception_handlers={404: self._not_found}, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """A background thread keeps the costly windows (90-day bars, last hour's probes) fresh, so that no
        request waits for them."""
        stop = threading.Event()

        def refresh() -> None:
            while True:
                try:
                    self.reader.refresh_caches()
                    self.reader.integrations()
                    # The caches (thousands of integrations' configuration, bars and figures) live long: moved out
                    # of the collector's sight, a scrape's short-lived objects no longer trigger full collections
                    # that walk them (measured: 140 ms -> 40 ms per /metrics with 5,000 integrations).
                    gc.freeze()
                except Exception:  # noqa: BLE001 - a database hiccup must not end the refresher
                    _log.exception("refreshing the status caches failed; retrying")
                if stop.wait(REFRESH_SECONDS):
                    return

        thread = threading.Thread(target=refresh, name="ops-refresher", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()

    def alerting_config(self) -> AlertingConfig | None:
        """The alerting file (re-read when it changes) for acknowledgements: whether an event alert resolves when
        acknowledged. A broken file does not stop acknowledgements (the engine's defaults apply); it is logged."""
        try:
            return load_alerting_files(self.settings.alerting_file)[0]
        except ConfigFileError as error:
            _log.warning("acknowledging with the engine's defaults: %s", error)
            return None

    def acknowledge(self, alert_id: int, by: str, comment: str) -> str:
        """Acknowledge through the engine in one transaction (``alert_reads.AckOutcome``)."""
        config = self.alerting_config()
        with self.engine.begin() as connection:
            return alert_reads.acknowledge_alert(connection, alert_id, by, comment, datetime.now(UTC), config=config,
                                                 links=self.links)

    # -- access --------------------------------------------------------------------------------------------

    def _offered_token(self, request: Request) -> str | None:
        return bearer_token(request.headers.get("authorization")) or request.cookies.get(TOKEN_COOKIE)

    def token_matches(self, offered: str | None) -> bool:
        expected = read_secret(self.config.service.token_env)
        return bool(offered and expected and hmac.compare_digest(offered.encode(), expected.encode()))

    def read_denied(self, request: Request) -> Response | None:
        """None when the request may read; else the answer (a 401 naming how to authenticate)."""
        if self.config.service.access == "public" or self.token_matches(self._offered_token(request)):
            return None
        return problem(401, "this service needs a token: send Authorization: Bearer <token>")

    def write_denied(self, request: Request) -> Response | None:
        """Every write needs the token (Authorization: Bearer), whatever the read access."""
        if read_secret(self.config.service.token_env) is None:
            return problem(503, f"writes are disabled: {self.config.service.token_env} is not set")
        if self.token_matches(bearer_token(request.headers.get("authorization"))):
            return None
        return problem(401, "this needs the service token: send Authorization: Bearer <token>")

    def _page_denied(self, request: Request) -> Response | None:
        if self.config.service.access == "public":
            return None
        offered = request.query_params.get("token")
        if offered and self.token_matches(offered):
            # Move the token out of the address bar (and browser history) into an HttpOnly cookie.
            response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            response.set_cookie(TOKEN_COOKIE, offered, httponly=True, samesite="strict")
            return response
        if self.token_matches(self._offered_token(request)):
            return None
        return HTMLResponse(self.pages.render("message.html", heading="Token needed",
                                              message="Open this page as /?token=<the service token>."),
                            status_code=401)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return problem(404, f"no such resource: {request.url.path}")

    # -- pages ---------------------------------------------------------------------------------------------

    async def status_page(self, request: Request) -> Response:
        denied = self._page_denied(request)
        if denied is not None:
            return denied
        snapshot = await run_in_threadpool(self.reader.snapshot, PAGE_MAX_AGE_SECONDS)
        partial = request.query_params.get("partial") == "1"
        return HTMLResponse(self.pages.status(snapshot, partial=partial))

    async def integration_page(self, request: Request) -> Response:
        denied = self._page_denied(request)
        if denied is not None:
            return denied
        name = request.path_params["name"]
        detail = await run_in_threadpool(api.integration_detail, self, name, "7d")
        if detail is None:
            return HTMLResponse(self.pages.render("message.html", heading="No such integration",
                                                  message=f"{name} is not in the integrations file."), 404)
        return HTMLResponse(self.pages.integration(detail))

    async def alert_page(self, request: Request) -> Response:
        """One alert (what "View alert" in a notification opens): state, labels, description and its timeline."""
        denied = self._page_denied(request)
        if denied is not None:
            return denied
        alert_id = request.path_params["alert_id"]
        alert = await run_in_threadpool(alert_reads.alert, self.engine, alert_id)
        if alert is None:
            return HTMLResponse(self.pages.render("message.html", heading="No such alert",
                                                  message=f"There is no alert {alert_id}."), 404)
        timeline = await run_in_threadpool(alert_reads.alert_timeline, self.engine, alert_id)
        return HTMLResponse(self.pages.render("alert.html", alert=alert, timeline=timeline or []))

    async def events(self, request: Request) -> Response:
        """Server-sent events: the live summary every few seconds; the page re-renders what changed."""
        denied = self.read_denied(request)
        if denied is not None:
            return denied

        async def stream() -> AsyncIterator[bytes]:
            while True:
                snapshot = await run_in_threadpool(self.reader.snapshot, min(PAGE_MAX_AGE_SECONDS,
                                                                              self.event_interval))
                yield f"event: status\ndata: {json.dumps(snapshot.live())}\n\n".encode()
                await asyncio.sleep(self.event_interval)
                if await request.is_disconnected():
                    return

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- machines ------------------------------------------------------------------------------------------

    async def metrics(self, request: Request) -> Response:
        denied = self.read_denied(request)
        if denied is not None:
            return denied
        body = await run_in_threadpool(self.metrics_collector.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def live(self, request: Request) -> Response:
        return JSON({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        checks = await run_in_threadpool(self._readiness)
        failed = [name for name, check in checks.items() if check.status == FAIL]
        body = {"status": "fail" if failed else "ok", "failed": failed,
                "checks": {name: check.as_json() for name, check in checks.items()}}
        return JSON(body, status_code=503 if failed else 200)

    def _readiness(self) -> dict[str, Any]:
        configs, _problem = self.reader.integrations()
        try:
            pulls = any(r.pulls for r in load_registrations(self.settings.registrations_dir))
        except RegistrationConfigError:
            pulls = True  # a broken registrations file: the landing check still says whether pulls happen
        return readiness(self.engine, self.config.readiness, datetime.now(UTC), pulls,
                         any(c.enabled for c in configs))

    async def openapi(self, request: Request) -> Response:
        return JSON(openapi_document())

    # -- inbound webhooks ----------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        name = request.path_params["source"]
        received_at = datetime.now(UTC)
        source = self.config.webhooks.get(name)
        if source is None:
            outcome = webhooks.WebhookOutcome(404, webhooks.REJECTED, "unknown webhook source")
            await run_in_threadpool(webhooks.record, self.engine, name, outcome, None, 0, received_at)
            return JSON(outcome.body(), status_code=404)
        body, too_large = await _read_limited(request, source.max_body_bytes)
        if too_large:
            outcome = webhooks.WebhookOutcome(413, webhooks.REJECTED,
                                              f"body larger than this source's limit of {source.max_body_bytes} bytes")
            await run_in_threadpool(webhooks.record, self.engine, name, outcome, None, len(body), received_at)
            return JSON(outcome.body(), status_code=413)
        configs, _problem = self.reader.integrations()
        outcome = await run_in_threadpool(
            webhooks.receive, self.engine, name, source, body, {k.lower(): v for k, v in request.headers.items()},
            dict(request.query_params), configs, received_at)
        return JSON(outcome.body(), status_code=outcome.http_status)

    # -- acknowledgement links -----------------------------------------------------------------------------

    def _claim(self, token: str) -> tuple[ack_links.AckClaim | None, str | None]:
        try:
            signer = ack_links.signer_from_config(self.config.acknowledgement)
            return signer.verify(token, datetime.now(UTC)), None
        except (ack_links.AckKeyError, ack_links.AckTokenError) as error:
            return None, str(error)

    async def ack_page(self, request: Request) -> Response:
        claim, error = self._claim(request.path_params["token"])
        if claim is None:
            return HTMLResponse(self.pages.render("message.html", heading="This link cannot be used",
                                                  message=error), status_code=400)
        used_at = await run_in_threadpool(ack_links.was_used, self.engine, claim)
        alert = await run_in_threadpool(alert_reads.alert, self.engine, claim.alert_id)
        return HTMLResponse(self.pages.render("ack.html", claim=claim, alert=alert, used_at=used_at))

    async def ack_post(self, request: Request) -> Response:
        claim, error = self._claim(request.path_params["token"])
        if claim is None:
            return HTMLResponse(self.pages.render("message.html", heading="This link cannot be used",
                                                  message=error), status_code=400)
        config = await run_in_threadpool(self.alerting_config)
        outcome = await run_in_threadpool(lambda: ack_links.acknowledge(
            self.engine, claim, "acknowledgement link", datetime.now(UTC), config=config, links=self.links))
        messages = {
            "acknowledged": ("Acknowledged", f"Alert {claim.alert_id} is acknowledged: reminders and escalations "
                                             "stop, and its receivers are told."),
            "already_acknowledged": ("Already acknowledged", f"Alert {claim.alert_id} was acknowledged before."),
            "resolved": ("Already resolved", f"Alert {claim.alert_id} is resolved; nothing to acknowledge."),
            "pending": ("Not firing yet", f"Alert {claim.alert_id} has not fired yet: nothing to acknowledge, and "
                                          "the link still works."),
            "not_found": ("No such alert", f"Alert {claim.alert_id} does not exist (any more)."),
            ack_links.USED: ("Link already used", "This acknowledgement link was used before; each works once."),
            "unavailable": ("Alerting is not available", "This deployment has no alert engine yet: nothing was "
                                                         "acknowledged, and the link still works."),
        }
        heading, message = messages.get(outcome, ("Not acknowledged", outcome))
        status = 200 if outcome in ("acknowledged", "already_acknowledged", "resolved") else (
            409 if outcome in (ack_links.USED, "pending") else 404 if outcome == "not_found" else 503)
        return HTMLResponse(self.pages.render("message.html", heading=heading, message=message), status_code=status)


async def _read_limited(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, or (what was read, True) as soon as it is longer than ``limit`` (the rest is never read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return b"", True
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


def build_app(engine: Engine, settings: ProjectSettings, config: OpsConfig,
              extra_routes: Sequence[BaseRoute] = (), **options: Any) -> Starlette:
    return OpsService(engine, settings, config, extra_routes, **options).app


ExtraRoutes = Callable[[Engine, ProjectSettings], Sequence[BaseRoute]]
