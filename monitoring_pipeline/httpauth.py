"""Reading credentials from an ``Authorization`` header (the D&B emulator and the sandbox check them)."""

from __future__ import annotations

import base64
import binascii


def basic_auth_key(authorization: str | None) -> tuple[str, str] | None:
    """(key, secret) from an ``Authorization: Basic`` header, or None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, colon, secret = decoded.partition(":")
    return (key, secret) if colon and key else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
