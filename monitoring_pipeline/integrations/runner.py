"""Probing: one concurrent pass over many integrations with httpx's async client.

A pass runs ``concurrency`` workers over a queue of integrations; workers share ``httpx.AsyncClient``s in small
shards (connections pooled and kept alive across the pass). Every attempt is bounded by the integration's own
timeout (``asyncio.timeout`` around the whole exchange, so a server trickling bytes cannot stretch it), so one
slow endpoint never delays the others beyond that. A failed attempt is retried with backoff before the failure
counts; the result records how many attempts (calls) it took. Whatever goes wrong with one integration (a bug,
a CA file deleted since the file was loaded) is that integration's failed result, never the end of the pass.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import ssl
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from monitoring_pipeline.integrations import probes
from monitoring_pipeline.integrations.auth import AuthError, OAuth2ClientCredentials, TokenCache, auth_headers
from monitoring_pipeline.integrations.conditions import ConditionResult, Observation
from monitoring_pipeline.integrations.config import HttpIntegration, IntegrationConfig
from monitoring_pipeline.logs import log_context

UP = "up"
DEGRADED = "degraded"
FAILED = "failed"
SKIPPED = "skipped"  # not called: its circuit breaker is open
OUTCOMES = (UP, DEGRADED, FAILED, SKIPPED)
ERROR_CLASSES = ("timeout", "connect", "tls", "protocol", "http_status", "latency", "condition", "body", "auth",
                 "server", "missed", "job_failed", "circuit_open", "internal")
_ERROR_MAX_CHARS = 300
_CONNECTIONS_PER_CLIENT = 1  # measured best: 1, 2, 4, 8, 16 connections per client cost 1.3-2.3 ms CPU per probe
_USER_AGENT = "monitoring-pipeline-probe/0.1"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    """What one probe of one integration found."""

    integration: str
    started_at: datetime
    outcome: str
    status_code: int | None = None
    latency_ms: float | None = None
    error_class: str | None = None
    error: str | None = None
    conditions: tuple[ConditionResult, ...] = ()
    attempts: int = 0
    tls_days_left: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (UP, DEGRADED)


def skipped(integration: str, at: datetime, retry_in: float) -> ProbeResult:
    return ProbeResult(integration, at, SKIPPED, error_class="circuit_open",
                       error=f"circuit breaker open; next trial in {retry_in:.0f}s")


@dataclass
class _Attempt:
    status_code: int | None = None
    latency_ms: float | None = None
    error_class: str | None = None
    error: str | None = None
    conditions: tuple[ConditionResult, ...] = ()
    tls_days_left: float | None = None
    outcome: str = FAILED


@dataclass
class ProbeRunner:
    """Runs probing passes; keeps OAuth2 tokens between passes (the process's ``TokenCache``)."""

    concurrency: int = 500
    max_body_bytes: int = 1 << 20
    tokens: TokenCache = field(default_factory=TokenCache)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], Any] = asyncio.sleep
    _ssl_contexts: dict[tuple[bool, str | None], ssl.SSLContext] = field(default_factory=dict, repr=False)
    _probe_context: probes.ProbeContext | None = field(default=None, repr=False)  # non-HTTP probes' SSL contexts

    def run(self, integrations: Sequence[IntegrationConfig], time_budget: float) -> list[ProbeResult]:
        """One pass, from synchronous code (a sensor tick): results of every probe that started in time."""
        return asyncio.run(self.run_async(integrations, time.monotonic() + time_budget))

    async def run_async(self, integrations: Sequence[IntegrationConfig], deadline: float) -> list[ProbeResult]:
        """Probe ``integrations`` concurrently. A probe starts only if its worst case still ends by ``deadline``
        (monotonic clock); those that could not start are left out, to be probed next pass.

        ``concurrency`` workers take integrations from a queue. Workers share clients in small shards: httpcore's
        pool scans every connection of its client on each request, so one client with thousands of connections
        costs quadratic CPU, while shards of a few connections keep it linear (see bench/probes_bench.py).
        """
        probes.load_clients({integration.type for integration in integrations})
        queue: asyncio.Queue[IntegrationConfig] = asyncio.Queue()
        for integration in integrations:
            queue.put_nowait(integration)
        workers = max(1, min(self.concurrency, len(integrations)))
        shards = [_ClientShard(self) for _ in range(math.ceil(workers / _CONNECTIONS_PER_CLIENT))]
        results: list[ProbeResult] = []

        async def work(shard: _ClientShard) -> None:
            while not queue.empty():
                integration = queue.get_nowait()
                with log_context(integration=integration.name):
                    try:
                        result = await self._probe(shard, integration, deadline)
                    except Exception as error:  # noqa: BLE001 - one integration's fault must not end the pass
                        result = self._unexpected(integration, error)
                    if result is not None:
                        results.append(result)
                        _log.debug("probed: %s (status %s, %s ms, %d attempt(s), error class %s)", result.outcome,
                                   result.status_code, result.latency_ms, result.attempts, result.error_class)

        try:
            await asyncio.gather(*(work(shards[n // _CONNECTIONS_PER_CLIENT]) for n in range(workers)))
        finally:
            await asyncio.gather(*(shard.aclose() for shard in shards), return_exceptions=True)
        return results

    def ssl_context(self, integration: IntegrationConfig) -> ssl.SSLContext:
        """One SSL context per TLS setting for the whole runner (building one per client costs milliseconds)."""
        key = (integration.tls.verify, str(integration.tls.ca_file) if integration.tls.ca_file else None)
        context = self._ssl_contexts.get(key)
        if context is None:
            if not integration.tls.verify:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif integration.tls.ca_file:
                try:
                    context = ssl.create_default_context(cafile=str(integration.tls.ca_file))
                except (OSError, ssl.SSLError, ValueError) as error:
                    raise _ProbeSetupError("tls", f"tls.ca_file {integration.tls.ca_file} cannot be loaded "
                                                  f"({type(error).__name__})") from None
            else:
                context = httpx.create_ssl_context()
            self._ssl_contexts[key] = context
        return context

    def _unexpected(self, integration: IntegrationConfig, error: Exception) -> ProbeResult:
        """A failed result for what went wrong outside the expected failures: the exception's type and where it
        was raised, never its message (it may quote a header or a secret)."""
        if isinstance(error, _ProbeSetupError):
            error_class, message = error.error_class, error.message
        else:
            error_class, message = "internal", _internal_error(integration, error)
        return ProbeResult(integration.name, self.now(), FAILED, error_class=error_class,
                           error=message[:_ERROR_MAX_CHARS])

    async def _probe(self, shard: _ClientShard, integration: IntegrationConfig,
                     deadline: float) -> ProbeResult | None:
        if time.monotonic() + integration.worst_case_seconds() > deadline:
            return None
        client = shard.client(integration) if isinstance(integration, HttpIntegration) else None
        started_at = self.now()
        attempts = integration.retries.attempts + 1
        attempt = _Attempt()
        number = 0
        for number in range(1, attempts + 1):
            attempt = await self._attempt(client, integration)
            if attempt.outcome != FAILED:
                break
            if attempt.status_code == 401 and isinstance(integration.auth, OAuth2ClientCredentials):
                self.tokens.invalidate(integration.auth)
            if number < attempts:
                await self.sleep(integration.retries.delay(number))
        return ProbeResult(
            integration=integration.name,
            started_at=started_at,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            error_class=attempt.error_class,
            error=attempt.error,
            conditions=attempt.conditions,
            attempts=number,
            tls_days_left=attempt.tls_days_left,
        )

    async def _attempt(self, client: httpx.AsyncClient | None, integration: IntegrationConfig) -> _Attempt:
        attempt = _Attempt()
        try:
            if client is None:
                return await self._protocol_exchange(integration, attempt)
            return await self._exchange(client, integration, attempt)
        except Exception as error:  # noqa: BLE001 - an unexpected fault fails this attempt, nothing else
            return _failed(attempt, "internal", _internal_error(integration, error))

    async def _exchange(self, client: httpx.AsyncClient, integration: HttpIntegration,
                        attempt: _Attempt) -> _Attempt:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(integration.timeout):
                headers = _encoded({**integration.headers,
                                    **await auth_headers(integration.auth, client, self.tokens, integration.timeout)})
                # The whole exchange is bounded by asyncio.timeout above; httpx's own per-operation timeouts
                # would only add a cancel scope to every socket operation.
                request = client.build_request(
                    integration.method, _url(integration.url), headers=headers, timeout=None,
                    **_body(integration.body),
                )
                response = await client.send(request, stream=True, follow_redirects=integration.follow_redirects)
                try:
                    attempt.status_code = response.status_code
                    if request.url.scheme == "https":
                        attempt.tls_days_left = _tls_days_left(response, self.now())
                    body, complete = await _read_limited(response, self.max_body_bytes)
                finally:
                    await response.aclose()
            attempt.latency_ms = (time.perf_counter() - started) * 1000.0
        except (TimeoutError, httpx.TimeoutException):
            return _failed(attempt, "timeout", f"no complete answer within {integration.timeout:g}s")
        except AuthError as error:
            return _failed(attempt, "auth", str(error))
        except httpx.ConnectError as error:
            if _caused_by_tls(error):
                return _failed(attempt, "tls", _message(error))
            return _failed(attempt, "connect", _message(error))
        except (httpx.TransportError, httpx.DecodingError, httpx.TooManyRedirects) as error:
            return _failed(attempt, "protocol", _message(error))
        observation = Observation(attempt.status_code, attempt.latency_ms, response.headers, body,
                                  attempt.tls_days_left)
        return self._judged(attempt, integration, observation, complete)

    def _judged(self, attempt: _Attempt, integration: IntegrationConfig, observation: Observation, complete: bool,
                judged: tuple[ConditionResult, ...] = ()) -> _Attempt:
        verdict = judge(integration, observation, judged, complete=complete, body_limit=self.max_body_bytes)
        attempt.conditions = verdict.conditions
        if verdict.outcome == FAILED:
            return _failed(attempt, verdict.error_class or "internal", verdict.error or "")
        attempt.outcome = verdict.outcome
        return attempt

    async def _protocol_exchange(self, integration: IntegrationConfig, attempt: _Attempt) -> _Attempt:
        """One attempt of a non-HTTP probe (``probes/<type>.py``), bounded by the integration's timeout."""
        if self._probe_context is None:
            self._probe_context = probes.ProbeContext(self.now)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(integration.timeout):
                answer = await probes.probe(integration, self._probe_context)
            attempt.latency_ms = (time.perf_counter() - started) * 1000.0
        except TimeoutError:
            return _failed(attempt, "timeout", f"no complete answer within {integration.timeout:g}s")
        except probes.ProbeFailure as failure:
            return _failed(attempt, failure.error_class, failure.message)
        except AuthError as error:
            return _failed(attempt, "auth", str(error))
        except Exception as error:  # noqa: BLE001 - refused, reset, TLS: named below; the rest is internal
            named = probes.failure_class(error)
            if named is None:
                raise
            return _failed(attempt, *named)
        attempt.tls_days_left = answer.tls_days_left
        observation = Observation(None, attempt.latency_ms, tls_days_left=answer.tls_days_left, fields=answer.fields)
        return self._judged(attempt, integration, observation, True, answer.conditions)


@dataclass(frozen=True)
class Verdict:
    outcome: str
    conditions: tuple[ConditionResult, ...]
    error_class: str | None = None
    error: str | None = None


def judge(integration: IntegrationConfig, observation: Observation, judged: tuple[ConditionResult, ...] = (), *,
          complete: bool = True, body_limit: int = 0) -> Verdict:
    """The outcome of what a probe observed: its conditions (``judged``: those the probe evaluated itself), then
    ``latency.down`` and ``latency.degraded``. The same for every probe type."""
    conditions = integration.effective_conditions
    results = judged + tuple(condition.evaluate(observation) for condition in conditions)
    failed = next((result for result in results if not result.passed), None)
    if failed is not None:
        if not complete and any(c.needs_body for c in conditions):
            return Verdict(FAILED, results, "body", f"body larger than {body_limit} bytes")
        return Verdict(FAILED, results, failed.error_class or "condition", f"{failed.name} (actual: {failed.actual})")
    if observation.latency_ms is None:
        return Verdict(UP, results)
    seconds = observation.latency_ms / 1000.0
    if integration.latency.down is not None and seconds > integration.latency.down:
        return Verdict(FAILED, results, "latency", f"{observation.latency_ms:.0f} ms > latency.down")
    slow = integration.latency.degraded is not None and seconds > integration.latency.degraded
    return Verdict(DEGRADED if slow else UP, results)


class _ProbeSetupError(Exception):
    """A probe that cannot be set up (its CA file went missing); the message is safe to store."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


class _ClientShard:
    """A few workers' clients (one per TLS setting), each pooling at most ``_CONNECTIONS_PER_CLIENT`` connections."""

    def __init__(self, runner: ProbeRunner) -> None:
        self._runner = runner
        self._clients: dict[int, httpx.AsyncClient] = {}

    def client(self, integration: IntegrationConfig) -> httpx.AsyncClient:
        context = self._runner.ssl_context(integration)
        client = self._clients.get(id(context))
        if client is None:
            client = self._clients[id(context)] = httpx.AsyncClient(
                verify=context,
                limits=httpx.Limits(max_connections=_CONNECTIONS_PER_CLIENT,
                                    max_keepalive_connections=_CONNECTIONS_PER_CLIENT),
                headers={"User-Agent": _USER_AGENT},
                trust_env=False,  # probes go where the file says, not through a proxy from the environment
            )
        return client

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients.values()), return_exceptions=True)


@functools.lru_cache(maxsize=65536)
def _url(url: str) -> httpx.URL:
    """Parsed once per process, not on every probe."""
    return httpx.URL(url)


def _encoded(headers: dict[str, str]) -> dict[str, bytes]:
    """Header values as latin-1 bytes (validated when the file loaded and when secrets are read): httpx would
    encode text as ASCII and refuse a value such as ``Müller``."""
    return {name: value.encode("latin-1") for name, value in headers.items()}


def _body(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, str):
        return {"content": body.encode()}
    return {"json": body}


async def _read_limited(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body up to ``limit`` bytes, and whether it was complete."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _tls_days_left(response: httpx.Response, now: datetime) -> float | None:
    """Days until the server certificate expires, read from the connection the response came on."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return round((expires - now).total_seconds() / 86400.0, 3)


def _caused_by_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(error) or "certificate" in str(error).lower()


def _failed(attempt: _Attempt, error_class: str, message: str) -> _Attempt:
    attempt.outcome = FAILED
    attempt.error_class = error_class
    attempt.error = message[:_ERROR_MAX_CHARS]
    return attempt


def _message(error: BaseException) -> str:
    # A local protocol error is about the request we were sending, and h11 quotes the offending header value,
    # which may be a token: say what it is, never show it.
    if isinstance(error, httpx.LocalProtocolError):
        return f"{type(error).__name__}: invalid header value (not shown)"
    # httpx's other messages carry no request URL or headers; keep them short.
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _internal_error(integration: IntegrationConfig, error: BaseException) -> str:
    """The message of an unexpected error (logged too): the exception's type and the line that raised it
    (``jsonpath_ng/ext/iterable.py:62``), which say where to look without repeating anything its text may hold."""
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        path = frames[-1].filename.replace("\\", "/")
        path = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path)
        path = re.sub(r"^.*/(?=monitoring_pipeline/)", "", path)
        where = f" at {path}:{frames[-1].lineno}"
    message = (f"{type(error).__name__}{where}: unexpected error while probing "
               "(details not shown: they may hold secrets)")
    _log.error("probe of %s failed: %s", integration.name, message)
    return message


def probe_once(integrations: Iterable[IntegrationConfig], *, concurrency: int = 50,
               time_budget: float = 60.0) -> list[ProbeResult]:
    """Probe each integration once (for tools and tests)."""
    return ProbeRunner(concurrency=concurrency).run(list(integrations), time_budget)
