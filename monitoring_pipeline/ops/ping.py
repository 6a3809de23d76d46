"""Push heartbeats on the ops service: ``/ping/<token>`` (success), ``/start``, ``/fail`` and ``/<exit status>``.

A job calls ``curl -fsS -m 10 --retry 3 https://ops.example.com/ping/$TOKEN`` when it succeeds (``/start``
first to have its run time measured, ``/fail`` or ``/$?`` when it fails). GET, HEAD and POST all count, as
with Healthchecks.io, so the plainest client works; a POST body (the job's last output line, say) is kept as
the ping's message (first 1,000 characters). The token is the only credential: an unknown one gets 404 and
records nothing. The probe pass judges the pings (``integrations/push.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from monitoring_pipeline.integrations.config import IntegrationConfigError, IntegrationsFile, load_integrations
from monitoring_pipeline.integrations.probes.push import PushIntegration
from monitoring_pipeline.integrations.push import (
    FAIL,
    MESSAGE_MAX_CHARS,
    START,
    SUCCESS,
    record_ping,
    token_digest,
    token_owners,
)
from monitoring_pipeline.settings import ProjectSettings

_log = logging.getLogger(__name__)
METHODS = ["GET", "POST"]  # Starlette answers HEAD wherever GET is allowed
_BODY_READ_LIMIT = 4 * MESSAGE_MAX_CHARS  # bytes of a body read for its message: UTF-8 takes up to 4 a character


def ping_routes(engine: Engine, settings: ProjectSettings,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Route]:
    """The ping routes, for the ops service to mount; pings go to ``engine``, tokens come from the push
    integrations of ``settings.integrations_file`` (read again when it changes)."""
    endpoint = PingEndpoint(engine, settings.integrations_file, clock)
    return [
        Route("/ping/{token}", endpoint.success, methods=METHODS),
        Route("/ping/{token}/start", endpoint.start, methods=METHODS),
        Route("/ping/{token}/fail", endpoint.fail, methods=METHODS),
        Route("/ping/{token}/{exit_status:int}", endpoint.exit_status, methods=METHODS),
    ]


class PingEndpoint:
    def __init__(self, engine: Engine, integrations_file: Path, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.integrations_file = Path(integrations_file)
        self.clock = clock
        self._loaded: tuple[int, IntegrationsFile] | None = None

    async def success(self, request: Request) -> Response:
        return await self._record(request, SUCCESS)

    async def start(self, request: Request) -> Response:
        return await self._record(request, START)

    async def fail(self, request: Request) -> Response:
        return await self._record(request, FAIL)

    async def exit_status(self, request: Request) -> Response:
        status = int(request.path_params["exit_status"])
        if not 0 <= status <= 255:
            return PlainTextResponse("an exit status is 0-255\n", status_code=400)
        return await self._record(request, SUCCESS if status == 0 else FAIL, status)

    async def _record(self, request: Request, kind: str, exit_status: int | None = None) -> Response:
        config = self._integrations()
        if config is None:
            return PlainTextResponse("the integrations file cannot be loaded; see the service's log\n",
                                     status_code=503)
        owners = token_owners(i for i in config.integrations if isinstance(i, PushIntegration))
        integration = owners.get(token_digest(request.path_params["token"]))
        if integration is None:
            return PlainTextResponse("not found: no push integration has this token\n", status_code=404)
        message = await _message(request) if request.method == "POST" else None
        await run_in_threadpool(
            record_ping, self.engine, integration, kind, now=self.clock(), exit_status=exit_status, message=message,
            remote_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        return PlainTextResponse("OK\n")

    def _integrations(self) -> IntegrationsFile | None:
        """The integrations file, parsed again only when it changes; None while it cannot be loaded."""
        try:
            modified = self.integrations_file.stat().st_mtime_ns
            if self._loaded is None or self._loaded[0] != modified:
                self._loaded = (modified, load_integrations(self.integrations_file))
        except (OSError, IntegrationConfigError) as error:
            _log.error("push pings refused: %s", error)
            return None
        return self._loaded[1]


async def _message(request: Request) -> str | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) >= _BODY_READ_LIMIT:
            break
    text = body[:_BODY_READ_LIMIT].decode("utf-8", errors="replace").strip()
    return text[:MESSAGE_MAX_CHARS] or None
