"""How a fake third-party endpoint behaves (``EndpointBehaviour``) and the request-time choice of its answer.

A behaviour is validated once and compiled into a ``ResponsePlan`` per phase (rendered body, header
list, credentials to compare), so answering a request costs a phase lookup and a few comparisons.
"""

from __future__ import annotations

import bisect
import hmac
import json
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    StrictStr,
    model_validator,
)

from monitoring_pipeline.config_errors import describe, expected
from monitoring_pipeline.httpauth import basic_auth_key, bearer_token

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_NAMES = frozenset({"oauth"})  # /oauth/token is the sandbox's own token endpoint
NAME_EXPECTED = "an endpoint name of 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
MAX_LATENCY_MS = 600_000.0
FAULTS = ("none", "reset", "hang", "malformed")
AUTH_KINDS = ("none", "bearer", "basic", "api_key", "oauth2")
DEFAULT_BODY: dict[str, JsonValue] = {"status": "ok"}
# Framing headers belong to the server; a behaviour cannot set them.
RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

Fault = Literal["none", "reset", "hang", "malformed"]
AuthKind = Literal["none", "bearer", "basic", "api_key", "oauth2"]


def is_endpoint_name(value: object) -> bool:
    """Whether ``value`` can name an endpoint (it becomes the first segment of its URL path)."""
    return isinstance(value, str) and bool(NAME_PATTERN.match(value)) and value not in RESERVED_NAMES


def _name(value: str) -> str:
    if value in RESERVED_NAMES:
        raise expected(NAME_EXPECTED + ", other than " + ", ".join(sorted(RESERVED_NAMES)), repr(value))
    if not NAME_PATTERN.match(value):
        raise expected(NAME_EXPECTED)
    return value


def _status(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 599:
        raise expected("an HTTP status code from 200 to 599")
    return value


def _milliseconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    if not 0 <= value <= MAX_LATENCY_MS:
        raise ValueError
    return float(value)


_LATENCY_EXPECTED = f"milliseconds: a number from 0 to {MAX_LATENCY_MS:.0f}, or [min, max] with min <= max"


def _latency(value: object) -> float | tuple[float, float]:
    try:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError
            low, high = _milliseconds(value[0]), _milliseconds(value[1])
            if low > high:
                raise ValueError
            return (low, high)
        return _milliseconds(value)
    except ValueError:
        raise expected(_LATENCY_EXPECTED, repr(value) if len(repr(value)) <= 40 else describe(value)) from None


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise expected("a fraction from 0 to 1 (0.05 is 5 % of requests)")
    return float(value)


def _headers(value: object) -> dict[str, str]:
    form = "a mapping of header name to text value (not Content-Type, Content-Length, Connection, Transfer-Encoding)"
    if not isinstance(value, Mapping):
        raise expected(form)
    headers: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise expected(form, f"header {name!r}")
        if isinstance(text, bool) or not isinstance(text, str | int | float) or not _printable(str(text)):
            raise expected(form, f"{name}: {text!r}")
        headers[name] = str(text)
    return headers


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _content_type(value: str) -> str:
    if not _printable(value):
        raise expected("a media type such as text/plain; charset=utf-8")
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.match(value) or value.lower() in RESERVED_HEADERS:
        raise expected("an HTTP header name such as X-Api-Key")
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _positive_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise expected("a number of seconds greater than 0")
    return float(value)


def _one_of(options: Sequence[str]) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value not in options:
            raise expected("one of " + ", ".join(options))
        return value

    return check


Status = Annotated[int, BeforeValidator(_status)]
Latency = Annotated[
    float | tuple[float, float],
    BeforeValidator(_latency),
    PlainSerializer(lambda v: list(v) if isinstance(v, tuple) else v),
]
Rate = Annotated[float, BeforeValidator(_rate)]
Headers = Annotated[dict[str, str], BeforeValidator(_headers)]
Text = Annotated[StrictStr, Field(min_length=1)]


class ResponseFields(BaseModel):
    """The fields that shape an endpoint's answers; a phase overrides any of them for its duration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status = 200
    latency_ms: Latency = 0.0
    body: JsonValue = Field(default_factory=lambda: dict(DEFAULT_BODY))
    content_type: Annotated[Text, AfterValidator(_content_type)] = "application/json"
    headers: Headers = Field(default_factory=dict)
    error_rate: Rate = 0.0
    error_status: Status = 503
    fault: Annotated[Fault, BeforeValidator(_one_of(FAULTS))] = "none"
    auth: Annotated[AuthKind, BeforeValidator(_one_of(AUTH_KINDS))] = "none"
    auth_token: SecretStr | None = None
    auth_username: Text | None = None
    auth_password: SecretStr | None = None
    auth_header: Annotated[Text, AfterValidator(_header_name)] = "X-Api-Key"

    def overrides(self) -> dict[str, Any]:
        """The response fields given explicitly (the rest are defaults)."""
        return {name: getattr(self, name) for name in self.model_fields_set if name in ResponseFields.model_fields}


class Phase(ResponseFields):
    """One step of a cycle: ``seconds`` long, with the endpoint's behaviour changed by the fields given."""

    seconds: Annotated[float, BeforeValidator(_positive_seconds)]


class EndpointBehaviour(ResponseFields):
    """A fake third-party endpoint served at ``/{name}`` (and below it) by the sandbox.

    ``phases`` cycle by wall clock from ``phase_epoch`` (default: when the endpoint was created), which
    is how flapping and periodic outages are written: ``[{seconds: 45}, {seconds: 15, status: 503}]``.
    """

    name: Annotated[StrictStr, AfterValidator(_name)]
    phases: tuple[Phase, ...] = ()
    phase_epoch: Annotated[datetime | None, AfterValidator(lambda v: v if v is None else _utc(v))] = None

    _plans: tuple[ResponsePlan, ...] = PrivateAttr()
    _phase_ends: tuple[float, ...] = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> EndpointBehaviour:
        base = self.overrides()
        base_plan = _plan(base, "")
        if not self.phases:
            self._plans, self._phase_ends = (base_plan,), ()
            return self
        plans, ends, elapsed = [], [], 0.0
        for index, phase in enumerate(self.phases):
            plans.append(_plan({**base, **phase.overrides()}, f"phases[{index}]."))
            elapsed += phase.seconds
            ends.append(elapsed)
        self._plans, self._phase_ends = tuple(plans), tuple(ends)
        return self

    @property
    def cycle_seconds(self) -> float:
        """Length of one cycle of the phases (0 without phases)."""
        return self._phase_ends[-1] if self._phase_ends else 0.0

    def phase_index(self, elapsed_seconds: float) -> int | None:
        """Which phase is active ``elapsed_seconds`` after the epoch (None without phases)."""
        if not self._phase_ends:
            return None
        offset = elapsed_seconds % self._phase_ends[-1]
        return bisect.bisect_right(self._phase_ends, offset)

    def plan_at(self, elapsed_seconds: float) -> ResponsePlan:
        """The compiled behaviour in force ``elapsed_seconds`` after the epoch."""
        index = self.phase_index(elapsed_seconds)
        return self._plans[0 if index is None else index]

    def definition(self) -> dict[str, Any]:
        """The fields given explicitly, as accepted by ``model_validate`` (secrets stay ``SecretStr``)."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def public_view(self) -> dict[str, Any]:
        """JSON view for the admin API: every field, secrets masked, phases as written."""
        view = {"name": self.name, **self.model_dump(mode="json", exclude={"name", "phases"})}
        view["phases"] = [
            {"seconds": phase.seconds, **phase.model_dump(mode="json", include=set(phase.overrides()))}
            for phase in self.phases
        ]
        return view


# -- compiled plans and the choice of an answer ---------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What to do with one request: answer it, drop the connection (``reset``) or never answer (``hang``)."""

    action: Literal["respond", "reset", "hang"]
    status: int = 0
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""


RESET = Reply("reset")
HANG = Reply("hang")


@dataclass(frozen=True)
class ResponsePlan:
    """One behaviour, compiled: everything a request needs, ready to send."""

    status: int
    latency_ms: tuple[float, float]
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    malformed_body: bytes
    error_rate: float
    error_status: int
    fault: str
    auth: str
    credential: bytes | tuple[bytes, bytes] | None
    auth_header: bytes  # lower case, as ASGI gives header names
    auth_header_name: str  # as configured, for messages

    def draw_latency_seconds(self, rng: random.Random) -> float:
        """This request's latency: fixed, or uniform between the bounds."""
        low, high = self.latency_ms
        return (low if low == high else rng.uniform(low, high)) / 1000.0

    def choose_reply(
        self,
        request_headers: Sequence[tuple[bytes, bytes]],
        rng: random.Random,
        oauth_token_valid: Callable[[str], bool],
    ) -> Reply:
        """The answer to one request, in the order a real service fails.

        Network faults first (the request never reaches the service), then the error rate (a
        gateway's 5xx), then authentication (401), then the service's own answer.
        """
        if self.fault == "reset":
            return RESET
        if self.fault == "hang":
            return HANG
        if self.error_rate and rng.random() < self.error_rate:
            return self._json_reply(self.error_status, {"error": "simulated failure", "status": self.error_status})
        if self.auth != "none":
            refusal = self._refusal(request_headers, oauth_token_valid)
            if refusal is not None:
                return refusal
        if self.fault == "malformed":
            return Reply("respond", 200, self.headers, self.malformed_body)
        return Reply("respond", self.status, self.headers, self.body)

    def _refusal(
        self, request_headers: Sequence[tuple[bytes, bytes]], oauth_token_valid: Callable[[str], bool]
    ) -> Reply | None:
        """A 401 when the request lacks this endpoint's credentials, else None."""
        if self.auth == "api_key":
            given = _header(request_headers, self.auth_header)
            if given is None:
                return self._unauthorized(f"missing {self.auth_header_name} header", None)
            assert isinstance(self.credential, bytes)
            return None if hmac.compare_digest(given, self.credential) else self._unauthorized("invalid API key", None)
        # Header bytes as latin-1 text: a lossless round trip back to the bytes compared below.
        authorization = (_header(request_headers, b"authorization") or b"").decode("latin-1")
        if self.auth == "basic":
            return self._basic_refusal(basic_auth_key(authorization))
        token = bearer_token(authorization)
        if token is None:
            return self._unauthorized("missing Bearer token", b'Bearer realm="sandbox"')
        if self.auth == "bearer":
            assert isinstance(self.credential, bytes)
            ok = hmac.compare_digest(token.encode("latin-1"), self.credential)
        else:
            ok = oauth_token_valid(token)
        if ok:
            return None
        return self._unauthorized("invalid or expired token", b'Bearer realm="sandbox", error="invalid_token"')

    def _basic_refusal(self, given: tuple[str, str] | None) -> Reply | None:
        challenge = b'Basic realm="sandbox"'
        if given is None:
            return self._unauthorized("missing Basic credentials", challenge)
        assert isinstance(self.credential, tuple)
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = hmac.compare_digest(given[0].encode(), self.credential[0])
        password_ok = hmac.compare_digest(given[1].encode(), self.credential[1])
        return None if user_ok and password_ok else self._unauthorized("invalid credentials", challenge)

    def _unauthorized(self, detail: str, challenge: bytes | None) -> Reply:
        extra = ((b"www-authenticate", challenge),) if challenge else ()
        return self._json_reply(401, {"error": "unauthorized", "detail": detail}, extra)

    def _json_reply(self, status: int, body: object, extra: tuple[tuple[bytes, bytes], ...] = ()) -> Reply:
        custom = tuple(header for header in self.headers if header[0] != b"content-type")
        return Reply("respond", status, ((b"content-type", b"application/json"), *custom, *extra), _json(body))


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header (ASGI header names are lower case)."""
    for key, value in headers:
        if key == name:
            return value
    return None


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _render(body: object, content_type: str) -> bytes:
    """Strings go out as written under a non-JSON content type; everything else as JSON."""
    if isinstance(body, str) and not _is_json_type(content_type):
        return body.encode("utf-8")
    return _json(body)


def _truncated(document: bytes) -> bytes:
    """A prefix of a JSON document that is not valid JSON itself (a proper prefix of ``42`` can be)."""
    cut = document[: len(document) // 2]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return b'{"status":'


def _plan(fields: dict[str, Any], where: str) -> ResponsePlan:
    """Validate one resolved behaviour (endpoint fields with a phase's on top) and compile it."""
    resolved = ResponseFields.model_validate(fields)  # each field is valid already; this applies defaults
    credential: bytes | tuple[bytes, bytes] | None = None
    secret = resolved.auth_token.get_secret_value() if resolved.auth_token else None
    if resolved.auth in ("bearer", "api_key"):
        if not secret:
            raise expected(f"the token that auth: {resolved.auth} requires", "nothing", where + "auth_token")
        credential = secret.encode()
    elif resolved.auth == "basic":
        if resolved.auth_username is None or resolved.auth_password is None:
            missing = "auth_username" if resolved.auth_username is None else "auth_password"
            raise expected("the user name and password that auth: basic requires", "nothing", where + missing)
        credential = (resolved.auth_username.encode(), resolved.auth_password.get_secret_value().encode())
    content_type = resolved.content_type
    body = _render(resolved.body, content_type)
    headers = ((b"content-type", content_type.encode("latin-1")),) + tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in resolved.headers.items()
    )
    latency = resolved.latency_ms
    return ResponsePlan(
        status=resolved.status,
        latency_ms=latency if isinstance(latency, tuple) else (latency, latency),
        headers=headers,
        body=body,
        malformed_body=_truncated(_json(resolved.body)),
        error_rate=resolved.error_rate,
        error_status=resolved.error_status,
        fault=resolved.fault,
        auth=resolved.auth,
        credential=credential,
        auth_header=resolved.auth_header.lower().encode("latin-1"),
        auth_header_name=resolved.auth_header,
    )
