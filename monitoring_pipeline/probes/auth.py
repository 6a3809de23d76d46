"""How probes authenticate: bearer token, HTTP basic, an API-key header, or OAuth2 client credentials.

The configuration names environment variables (``token_env``, ``password_env``, ``key_env``,
``client_secret_env``); secrets are read from the environment when a probe runs and never stored,
logged or shown. OAuth2 access tokens are cached per token endpoint and client until shortly before
they expire, so a 30-second probe does not fetch a token every time.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
# Refresh a cached token once less than this share of its lifetime (at most 5 minutes) is left.
_REFRESH_SHARE = 0.1
_REFRESH_MAX_SECONDS = 300.0


class AuthError(Exception):
    """Authentication could not be prepared (a variable unset, the token endpoint refused); no secret inside."""


class _AuthModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearerAuth(_AuthModel):
    type: Literal["bearer"]
    token_env: EnvName


class BasicAuth(_AuthModel):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password_env: EnvName


class ApiKeyAuth(_AuthModel):
    type: Literal["api_key"]
    header: str = Field(default="X-Api-Key", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    key_env: EnvName


class OAuth2ClientCredentials(_AuthModel):
    type: Literal["oauth2"]
    token_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret_env: EnvName
    scope: str | None = None
    audience: str | None = None


AuthConfig = Annotated[BearerAuth | BasicAuth | ApiKeyAuth | OAuth2ClientCredentials, Field(discriminator="type")]
AUTH_TYPES = ("bearer", "basic", "api_key", "oauth2")
# Keys people reach for that would put a secret in the file.
SECRET_KEYS = {
    "token": "token_env",
    "password": "password_env",
    "key": "key_env",
    "api_key": "key_env",
    "client_secret": "client_secret_env",
    "secret": "the *_env field of this auth type",
}


def secret(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise AuthError(f"environment variable {name} is not set (it holds this integration's credential)")
    return value


@dataclass
class _CachedToken:
    access_token: str
    expires_at: float  # time.monotonic()
    refresh_at: float


class TokenCache:
    """OAuth2 access tokens per (token URL, client id), shared by every probe of the process."""

    def __init__(self, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._clock = clock
        self._tokens: dict[tuple[str, str, str | None], _CachedToken] = {}
        self._locks: dict[tuple[str, str, str | None], asyncio.Lock] = {}
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
        credentials = base64.b64encode(f"{auth.client_id}:{secret(auth.client_secret_env)}".encode()).decode()
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
            access_token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise AuthError("OAuth2 token endpoint answered without an access_token") from None
        now = self._clock()
        margin = min(_REFRESH_MAX_SECONDS, lifetime * _REFRESH_SHARE)
        return _CachedToken(access_token, now + lifetime, now + lifetime - margin)


def _token_key(auth: OAuth2ClientCredentials) -> tuple[str, str, str | None]:
    return (auth.token_url, auth.client_id, auth.scope)


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
        return {"Authorization": f"Bearer {secret(auth.token_env)}"}
    if isinstance(auth, BasicAuth):
        pair = base64.b64encode(f"{auth.username}:{secret(auth.password_env)}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: secret(auth.key_env)}
    return {"Authorization": f"Bearer {await tokens.token(client, auth, timeout)}"}
