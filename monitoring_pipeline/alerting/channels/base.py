"""What every channel shares: its configuration's common fields, the result of one send, how HTTP channels build and
judge a request, secrets read from the environment, and redaction of anything secret in what we record."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.config_errors import ENV_NAME_PATTERN, expected, matching
from monitoring_pipeline.retry import is_retryable_status, parse_retry_after

Outcome = Literal["delivered", "retry", "failed"]
USER_AGENT = "monitoring-pipeline-alerting/1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s'\"<>]+)(/[^\s'\"<>]*)?")
REDACTED = "[redacted]"
DETAIL_LIMIT = 300


def _env_name(value: str) -> str:
    if not re.fullmatch(ENV_NAME_PATTERN, value):
        raise expected("the NAME of an environment variable, in upper case (e.g. SLACK_WEBHOOK_URL)")
    return value


EnvName = Annotated[StrictStr, AfterValidator(_env_name)]
ChannelName = Annotated[StrictStr, matching(r"^[a-z0-9][a-z0-9_.-]{0,47}$",
                                            "a channel name: lower-case letters, digits, _ . - (at most 48)")]


class ChannelSetupError(Exception):
    """The channel cannot send as configured (a variable unset, say): a permanent failure; never holds a secret."""


def secret(name: str) -> str:
    """The value of environment variable ``name``, which holds a channel's secret. The error names the variable,
    never the value."""
    value = os.environ.get(name)
    if not value:
        raise ChannelSetupError(f"environment variable {name} is not set")
    if _CONTROL.search(value):
        raise ChannelSetupError(f"environment variable {name} contains a line break or another control character "
                                "(a trailing newline?)")
    return value


def secret_identity(name: str) -> str:
    """What identifies the target behind variable ``name`` for rate limiting: its value (only ever hashed), or the
    name while it is unset."""
    return os.environ.get(name) or name


def _secret_parts(value: str) -> list[str]:
    """A secret and, for a URL, its path and the tokens in it (a remote may echo ``/services/T0/B0/xyz``)."""
    parts = [value]
    match = _URL.fullmatch(value.strip())
    if match and match.group(3):
        tail = match.group(3)
        parts.append(tail)
        parts.extend(piece for piece in re.split(r"[/?&=#]", tail) if len(piece) >= 8)
    return parts


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secret values (and the tokens of secret URLs) and with every URL cut to its
    scheme and host."""
    values = {part for value in secrets if value for part in _secret_parts(value)}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _URL.sub(lambda m: m.group(1) + m.group(2) + ("/" + REDACTED if m.group(3) else ""), text)


class RedactUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a webhook URL is a secret. Keeps scheme and host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a)) if isinstance(a, str | httpx.URL) else a for a in args)
        record.msg = redact(str(record.msg))
        return True


_REDACT_URLS = RedactUrls()


def redact_http_logs() -> None:
    """Install ``RedactUrls`` on httpx's and httpcore's loggers (once)."""
    for name in ("httpx", "httpcore"):
        log = logging.getLogger(name)
        if _REDACT_URLS not in log.filters:
            log.addFilter(_REDACT_URLS)


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fingerprint(*parts: str) -> str:
    """A short stable hash (rate-limit identities, Message-IDs): never the secret it was made from."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


class ChannelConfig(BaseModel):
    """Fields every channel has. ``name`` tells channels of one receiver apart in the delivery log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: ChannelName | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    # Sends per second to this channel's target; None: the channel's own default (Slack 1/s, PagerDuty 2/s...).
    rate_limit_per_second: float | None = Field(None, gt=0)

    @property
    def label(self) -> str:
        return self.name or self.type

    def secret_variables(self) -> tuple[str, ...]:
        """The environment variables this configuration names (their values are secrets)."""
        return tuple(value for key, value in self.model_dump().items() if key.endswith("_env") and value)

    def build(self) -> Channel:
        raise NotImplementedError


@dataclass(frozen=True)
class SendResult:
    """What one attempt to one channel came to. ``detail`` is redacted: it goes to the delivery log and the UI."""

    outcome: Outcome
    status_code: int | None = None
    detail: str = ""
    retry_after: float | None = None  # seconds the remote asked us to wait
    pause_for: float | None = None  # the remote's rate-limit window is spent: wait this long before the next send
    latency_ms: float | None = None


@dataclass(frozen=True)
class SendContext:
    """What a payload may depend on besides the notification: the moment of sending and, for e-mail threading, the
    idempotency key of the trigger this message follows."""

    now: datetime
    thread_root: str | None = None
    receiver: str = ""


class Channel(ABC):
    """One configured channel instance: sends a notification, and knows its target's limits."""

    type: ClassVar[str]
    default_rate_per_second: ClassVar[float | None] = None  # the remote's documented limit per target

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def min_interval(self) -> float:
        """Seconds between two sends to this channel's target (0: no limit)."""
        rate = self.config.rate_limit_per_second or self.default_rate_per_second
        return 1.0 / rate if rate else 0.0

    def pacing_key(self) -> str:
        """Identity of the remote target the rate limit applies to (two channels naming one webhook share it)."""
        return f"{self.type}:{fingerprint(*self.target_identity())}"

    @abstractmethod
    def target_identity(self) -> tuple[str, ...]:
        """What identifies the target (a URL, a key): hashed, never shown."""

    def secrets(self) -> list[str]:
        """Values that must never be recorded (read from the environment now; unset ones are skipped)."""
        values = []
        for name in self.config.secret_variables():
            value = os.environ.get(name)
            if value:
                values.append(value)
        return values

    @abstractmethod
    async def send(self, notification: Notification, context: SendContext, client: httpx.AsyncClient) -> SendResult:
        """Send once; never raises for a remote's answer or a network fault (they are results)."""


@dataclass(frozen=True)
class HttpRequest:
    """Exactly what an HTTP channel sends. The URL and headers may hold secrets: not in repr."""

    url: str = field(repr=False)
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    method: str = "POST"
    auth: tuple[str, str] | None = field(default=None, repr=False)


def json_body(payload: Any) -> bytes:
    """The exact bytes of a JSON payload: UTF-8, compact, keys in the order the channel built them."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


JSON_HEADERS = {"Content-Type": "application/json", "User-Agent": USER_AGENT}


class HttpChannel(Channel):
    """A channel that is one HTTP request: ``build`` (pure: the golden payload tests) and ``classify`` (pure: the
    retry classification tables)."""

    success_statuses: ClassVar[frozenset[int]] = frozenset({200, 201, 202, 204})

    @abstractmethod
    def build(self, notification: Notification, context: SendContext) -> HttpRequest:
        """The request for ``notification`` (reads the channel's secrets from the environment)."""

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> SendResult:
        """The outcome of an answer: success statuses deliver, ``is_retryable_status`` retries (honouring
        Retry-After), anything else is a permanent failure."""
        detail = f"{status} {answer_text(body)}".strip()
        if status in self.success_statuses:
            return SendResult("delivered", status, detail)
        if is_retryable_status(status):
            return SendResult("retry", status, detail, retry_after=parse_retry_after(headers.get("retry-after")))
        return SendResult("failed", status, detail)

    async def send(self, notification: Notification, context: SendContext, client: httpx.AsyncClient) -> SendResult:
        try:
            request = self.build(notification, context)
        except ChannelSetupError as error:
            return SendResult("failed", None, str(error))
        return await self.send_request(request, client)

    async def send_request(self, request: HttpRequest, client: httpx.AsyncClient) -> SendResult:
        """Send ``request`` once and judge the answer; the result's detail is redacted and its latency measured."""
        started = time.perf_counter()
        secrets = self.secrets()
        secrets.extend(v for v in (request.url, *(request.auth or ())) if v)
        try:
            response = await client.request(
                request.method, request.url, content=request.body, headers=dict(request.headers),
                auth=request.auth, timeout=self.config.timeout_seconds,
            )
        except httpx.TimeoutException:
            waited = f"no answer within {self.config.timeout_seconds:g}s"
            return timed_result(SendResult("retry", None, waited), started)
        except (httpx.TransportError, OSError) as error:
            text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            return timed_result(SendResult("retry", None, shorten(redact(text, secrets))), started)
        result = self.classify(response.status_code, response.headers, response.content)
        return timed_result(SendResult(result.outcome, result.status_code, shorten(redact(result.detail, secrets)),
                                 result.retry_after, result.pause_for), started)


def timed_result(result: SendResult, started: float) -> SendResult:
    """``result`` with its latency since ``started`` (``time.perf_counter()``)."""
    return SendResult(result.outcome, result.status_code, result.detail, result.retry_after, result.pause_for,
                      round((time.perf_counter() - started) * 1000, 3))


def answer_text(body: bytes, limit: int = 200) -> str:
    """A remote's answer as one short line (JSON error messages or text)."""
    try:
        text = body.decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - bytes always decode with errors="replace"
        return ""
    return shorten(text, limit)


