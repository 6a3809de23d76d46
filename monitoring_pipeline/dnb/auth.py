"""OAuth2 client-credentials tokens for D&B Direct+ (v3 form body, v2 JSON body), shared via a cache."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx

from monitoring_pipeline.dnb.errors import DnbAuthError, DnbMalformedResponseError
from monitoring_pipeline.dnb.token_cache import CachedToken, TokenCache

ApiVersion = Literal["v3", "v2"]
DEFAULT_REFRESH_MARGIN_SECONDS = 600.0
_ERROR_CODE_IN_TEXT = re.compile(r"ErrorCode:\s*([0-9]{5})")

# Sends one HTTP request through the client's limiter, breaker and retries: (response, JSON body).
SendFunction = Callable[..., tuple[httpx.Response, dict[str, Any]]]


class TokenProvider:
    """Hands out a valid access token, fetching one only when the shared cache has none fresh enough.

    A token is refreshed early: when less than ``refresh_margin_seconds`` (capped at a tenth of its
    lifetime) remain. Concurrent processes serialise on the cache's refresh lock and re-read the
    cache inside it, so only one of them asks D&B for a new token.
    """

    def __init__(
        self,
        send: SendFunction,
        client_id: str,
        client_secret: str,
        cache: TokenCache,
        api_version: ApiVersion = "v3",
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        if api_version not in ("v3", "v2"):
            raise ValueError(f"api_version must be 'v3' or 'v2', got {api_version!r}")
        if not client_id or not client_secret:
            raise ValueError("D&B client id and secret must both be set (DNB_CLIENT_ID / DNB_CLIENT_SECRET)")
        self._send = send
        self._client_id = client_id
        self._client_secret = client_secret
        self._cache = cache
        self.api_version = api_version
        self.refresh_margin_seconds = refresh_margin_seconds
        self.tokens_fetched = 0

    def _fresh(self, token: CachedToken | None) -> bool:
        if token is None:
            return False
        lifetime = max(1.0, token.expires_at - token.issued_at)
        margin = min(self.refresh_margin_seconds, lifetime / 10)
        return token.seconds_left() > margin

    def current(self) -> CachedToken | None:
        """The cached token, fresh or not (for status displays); never fetches."""
        return self._cache.load()

    def get(self) -> str:
        cached = self._cache.load()
        if self._fresh(cached):
            return cached.access_token  # type: ignore[union-attr]
        with self._cache.refresh_lock():
            cached = self._cache.load()
            if self._fresh(cached):
                return cached.access_token  # type: ignore[union-attr]
            token = self._fetch()
            self._cache.store(token)
            return token.access_token

    def invalidate(self, access_token: str) -> None:
        """Drop ``access_token`` after D&B refused it, unless another process already replaced it."""
        self._cache.discard(access_token)

    def _fetch(self) -> CachedToken:
        auth = httpx.BasicAuth(self._client_id, self._client_secret)
        issued_at = time.time()
        if self.api_version == "v3":
            response, body = self._send(
                "POST", "/v3/token", auth=auth, data={"grant_type": "client_credentials"}, authenticated=False
            )
        else:
            response, body = self._send(
                "POST", "/v2/token", auth=auth, json={"grant_type": "client_credentials"}, authenticated=False
            )
        self.tokens_fetched += 1
        access_token = body.get("access_token")
        lifetime = body.get("expires_in", body.get("expiresIn"))
        if not isinstance(access_token, str) or not access_token or not isinstance(lifetime, int | float):
            raise DnbMalformedResponseError(
                "D&B token response lacks access_token or its lifetime", http_status=response.status_code
            )
        return CachedToken(access_token=access_token, expires_at=issued_at + float(lifetime), issued_at=issued_at)


def oauth_error(response: httpx.Response, body: dict[str, Any]) -> DnbAuthError:
    """Build an error from the OAuth ``{"error", "error_description"}`` shape of /v3/token."""
    description = str(body.get("error_description") or body.get("error") or "token request refused")
    match = _ERROR_CODE_IN_TEXT.search(description)
    return DnbAuthError(
        description,
        error_code=match.group(1) if match else str(body.get("error") or "") or None,
        http_status=response.status_code,
    )
