"""How probes authenticate: bearer token, HTTP basic, an API-key header, or OAuth2 client credentials.

The configuration names environment variables (``token_env``, ``password_env``, ``key_env``,
``client_secret_env``), in upper case so that a secret pasted there by mistake is refused when the file loads and
messages may name the variable; secrets are read from the environment when a probe runs and never stored,
logged or shown. OAuth2 access tokens are cached per token endpoint, client, scope, audience and secret variable
until shortly before they expire, so a 30-second probe does not fetch a token every time.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from dataclasses import dataclass
from typing import Annotated, Literal, get_args
from urllib.parse import quote_plus

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.urls import HttpUrl

ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
ENV_NAME_EXPECTED = "the NAME of an environment variable, in upper case (e.g. STRIPE_TOKEN)"
# What h11 sends as a header value: visible ASCII and obs-text (latin-1), single spaces or tabs inside.
_HEADER_VALUE = re.compile(r"[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
HEADER_NAME_EXPECTED = "an HTTP header name (letters, digits and !#$%&'*+.^_`|~-), such as X-Client"
# Refresh a cached token once less than this share of its lifetime (at most 5 minutes) is left.
_REFRESH_SHARE = 0.1
_REFRESH_MAX_SECONDS = 300.0


def _env_name(value: str) -> str:
    if not re.fullmatch(ENV_NAME_PATTERN, value):
        raise expected(ENV_NAME_EXPECTED)  # what was there is never repeated: it may be a pasted secret
    return value


EnvName = Annotated[StrictStr, AfterValidator(_env_name)]


def _header_name(value: str) -> str:
    if not is_header_name(value):
        raise expected(HEADER_NAME_EXPECTED, repr(value))
    return value


def _user_id(value: str) -> str:
    if not value or ":" in value or _CONTROL.search(value):
        raise expected("a user name without ':' or control characters (HTTP Basic cannot carry them)")
    return value


class AuthError(Exception):
    """Authentication could not be prepared (a variable unset, the token endpoint refused); no secret inside."""


class _AuthModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(_AuthModel):
    type: Literal["bearer"]
    token_env: EnvName


class BasicAuth(_AuthModel):
    type: Literal["basic"]
    username: Annotated[StrictStr, AfterValidator(_user_id)]
    password_env: EnvName


class ApiKeyAuth(_AuthModel):
    type: Literal["api_key"]
    header: Annotated[StrictStr, AfterValidator(_header_name)] = "X-Api-Key"
    key_env: EnvName


class OAuth2ClientCredentials(_AuthModel):
    type: Literal["oauth2"]
    token_url: HttpUrl
    client_id: str = Field(min_length=1)
    client_secret_env: EnvName
    scope: str | None = None
    audience: str | None = None


AuthConfig = Annotated[BearerAuth | BasicAuth | ApiKeyAuth | OAuth2ClientCredentials, Field(discriminator="type")]
AUTH_TYPES = ("bearer", "basic", "api_key", "oauth2")
# The keys of each auth type, so that a secret written in the file is pointed at the key naming its variable.
AUTH_FIELDS = {get_args(model.model_fields["type"].annotation)[0]: tuple(model.model_fields)
               for model in (BearerAuth, BasicAuth, ApiKeyAuth, OAuth2ClientCredentials)}


def is_header_name(value: str) -> bool:
    return _HEADER_NAME.fullmatch(value) is not None


def is_header_value(value: str) -> bool:
    """Whether ``value`` can be sent as an HTTP header value as it is (latin-1, no control characters, no
    leading or trailing whitespace)."""
    return value == "" or _HEADER_VALUE.fullmatch(value) is not None


def secret(name: str, *, header: bool = False) -> str:
    """The value of environment variable ``name``; ``header``: it is sent in a header as it is.

    A value with a line break or another control character (a newline from ``echo`` or a file, say) is refused
    rather than sent: the error names the variable, never the value.
    """
    value = os.environ.get(name)
    if not value:
        raise AuthError(f"environment variable {name} is not set (it holds this integration's credential)")
    if _CONTROL.search(value):
        raise AuthError(f"environment variable {name} contains a line break or another control character "
                        "(a trailing newline?); remove it")
    if header and not is_header_value(value):
        raise AuthError(f"environment variable {name} cannot be sent in an HTTP header: it has leading or "
                        "trailing spaces or characters outside latin-1")
    return value


@dataclass
class _CachedToken:
    access_token: str
    expires_at: float  # time.monotonic()
    refresh_at: float


_TokenKey = tuple[str, str, str | None, str | None, str]


class TokenCache:
    """OAuth2 access tokens per (token URL, client id, scope, audience, secret variable), shared by every probe of
    the process: two integrations asking one tenant for different audiences or scopes get their own tokens."""

    def __init__(self, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._clock = clock
        self._tokens: dict[_TokenKey, _CachedToken] = {}
        self._locks: dict[_TokenKey, asyncio.Lock] = {}
        self.fetches = 0

    def invalidate(self, auth: OAuth2ClientCredentials) -> None:
        self._tokens.pop(_token_key(auth), None)

    async def token(self, client: httpx.AsyncClient, auth: OAuth2ClientCredentials, timeout: float) -> str:
        key = _token_key(auth)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.access_token
        # A lock per loop run: a fresh event loop (one per probing pass) gets fresh locks.
        lock = self._locks.get(key)
        if lock is None or getattr(lock, "_loop", None) not in (None, asyncio.get_running_loop()):
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.access_token
            token = await self._fetch(client, auth, timeout)
            self._tokens[key] = token
            return token.access_token

    async def _fetch(self, client: httpx.AsyncClient, auth: OAuth2ClientCredentials, timeout: float) -> _CachedToken:
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        if auth.audience:
            form["audience"] = auth.audience
        credentials = client_credentials(auth.client_id, secret(auth.client_secret_env))
        self.fetches += 1
        try:
            response = await client.post(
                auth.token_url, data=form, headers={"Authorization": f"Basic {credentials}"}, timeout=timeout
            )
        except httpx.HTTPError as error:
            raise AuthError(f"OAuth2 token endpoint unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            raise AuthError(f"OAuth2 token endpoint answered {response.status_code}")
        try:
            body = response.json()
            access_token = body["access_token"]
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthError("OAuth2 token endpoint answered without an access_token") from None
        if not isinstance(access_token, str) or not access_token or not is_header_value(access_token):
            raise AuthError("OAuth2 token endpoint answered an access_token that cannot be sent in a header")
        now = self._clock()
        margin = min(_REFRESH_MAX_SECONDS, lifetime * _REFRESH_SHARE)
        return _CachedToken(access_token, now + lifetime, now + lifetime - margin)


def _token_key(auth: OAuth2ClientCredentials) -> _TokenKey:
    return (auth.token_url, auth.client_id, auth.scope, auth.audience, auth.client_secret_env)


def client_credentials(client_id: str, client_secret: str) -> str:
    """The ``Basic`` credentials of an OAuth2 client: id and secret each form-urlencoded, then joined by ``:`` and
    base64-encoded (RFC 6749 section 2.3.1), so a ``:`` or ``%`` in either survives the trip."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return base64.b64encode(pair.encode("ascii")).decode("ascii")


async def auth_headers(
    auth: BearerAuth | BasicAuth | ApiKeyAuth | OAuth2ClientCredentials | None,
    client: httpx.AsyncClient,
    tokens: TokenCache,
    timeout: float,
) -> dict[str, str]:
    """The headers that authenticate one request."""
    if auth is None:
        return {}
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {secret(auth.token_env, header=True)}"}
    if isinstance(auth, BasicAuth):
        pair = base64.b64encode(f"{auth.username}:{secret(auth.password_env)}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: secret(auth.key_env, header=True)}
    return {"Authorization": f"Bearer {await tokens.token(client, auth, timeout)}"}
