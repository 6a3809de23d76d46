"""A job's side of push heartbeats: ``ping`` calls the ops service's ``/ping/<token>``; ``DemoHeartbeat`` is the
demo's job, which pings every minute and now and then misses or fails, so the push integration moves on the
status page.

Wiring (the demo, once the ops service runs on ``ops_url``): put a token in the environment of Dagster and the ops
service (``DEMO_PUSH_TOKEN_ENV``, from ``new_token()``), then ``start_demo_heartbeat(ops_url, token)`` and
``.stop()`` it at shutdown.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import httpx

DEMO_PUSH_TOKEN_ENV = "DEMO_PUSH_TOKEN"  # read by config/integrations.demo.yaml (nightly_export)
# The demo's ten-minute cycle, one action a minute: six good runs, two missed, a failed run, a good run again.
DEMO_CYCLE = ("success",) * 6 + ("skip", "skip", "fail", "success")
_log = logging.getLogger(__name__)


def new_token() -> str:
    """An unguessable ping token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def ping(ops_url: str, token: str, kind: str = "success", *, exit_status: int | None = None,
         message: str | None = None, timeout: float = 10.0) -> None:
    """One ping: ``success``, ``start`` or ``fail`` (or an ``exit_status``, 0 meaning success), with an optional
    message; raises ``httpx.HTTPError`` when the ops service does not take it."""
    suffix = f"/{exit_status}" if exit_status is not None else "" if kind == "success" else f"/{kind}"
    path = f"/ping/{token}{suffix}"
    response = httpx.post(ops_url.rstrip("/") + path, content=(message or "").encode(), timeout=timeout)
    response.raise_for_status()


class DemoHeartbeat(threading.Thread):
    """Every ``every`` seconds, one step of ``DEMO_CYCLE``: a run (start, a few seconds of work, success or
    failure) or nothing (a missed run). Errors reaching the ops service are logged and retried next step."""

    def __init__(self, ops_url: str, token: str, every: float = 60.0, work_seconds: float = 2.0) -> None:
        super().__init__(name="demo-heartbeat", daemon=True)
        self.ops_url, self._token = ops_url, token
        self.every, self.work_seconds = every, work_seconds
        self.steps = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        self._wait_for_ops_service()
        while not self._stopped.is_set():
            started = time.monotonic()
            action = DEMO_CYCLE[self.steps % len(DEMO_CYCLE)]
            try:
                self._step(action)
            except httpx.HTTPError as error:
                _log.warning("demo heartbeat: the ops service did not take the ping (%s)", type(error).__name__)
            self.steps += 1
            self._stopped.wait(max(0.0, self.every - (time.monotonic() - started)))

    def _wait_for_ops_service(self, patience: float = 60.0) -> None:
        """The demo starts the ops service and this job together: the first ping waits until the service answers
        (a job would not run before its monitor is up either), so the console shows no error for a normal start."""
        deadline = time.monotonic() + patience
        while not self._stopped.is_set() and time.monotonic() < deadline:
            try:
                httpx.get(self.ops_url.rstrip("/") + "/health/live", timeout=2.0)
                return
            except httpx.HTTPError:
                self._stopped.wait(0.5)

    def _step(self, action: str) -> None:
        if action == "skip":
            return
        ping(self.ops_url, self._token, "start")
        if self._stopped.wait(self.work_seconds):
            return
        if action == "fail":
            ping(self.ops_url, self._token, exit_status=1, message="export failed: upstream timed out")
        else:
            ping(self.ops_url, self._token, message=f"exported rows={secrets.randbelow(900) + 100}")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self.join(timeout)


def start_demo_heartbeat(ops_url: str, token: str, every: float = 60.0) -> DemoHeartbeat:
    heartbeat = DemoHeartbeat(ops_url, token, every)
    heartbeat.start()
    return heartbeat
