"""URLs in the integrations file: checked when it loads, and shown without what may be a credential."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import AfterValidator, StrictStr

from monitoring_pipeline.config_errors import expected

URL_EXPECTED = "an http:// or https:// URL with a host, such as https://api.example.com/health"
NO_USERINFO_EXPECTED = ("a URL without user:password@ (credentials go in auth, read from an environment "
                        "variable)")


def public_url(url: str) -> str:
    """``url`` without user information and query string, which may carry credentials: safe to show."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _http_url(value: str) -> str:
    try:
        shown = repr(public_url(value))
        netloc = urlsplit(value).netloc
        parsed = httpx.URL(value)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise expected(URL_EXPECTED, "a URL that cannot be parsed (not shown)") from None
    if parsed.scheme not in ("http", "https") or not parsed.host or any(c.isspace() for c in value):
        raise expected(URL_EXPECTED, shown)
    if parsed.userinfo or "@" in netloc:
        raise expected(NO_USERINFO_EXPECTED, f"{shown} with credentials (not shown)")
    return value


HttpUrl = Annotated[StrictStr, AfterValidator(_http_url)]
