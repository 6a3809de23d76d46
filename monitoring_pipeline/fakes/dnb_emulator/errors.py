"""Errors the emulator answers with, each carrying its D&B error code and HTTP status."""

from __future__ import annotations

from collections.abc import Mapping


class DnbError(Exception):
    """An error answered with the Direct+ envelope; ``code`` is D&B's ``errorCode``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})


def invalid_parameter(parameter: str, description: str) -> DnbError:
    """400 ``10002`` naming the offending parameter in ``errorDetails``."""
    return DnbError(400, "10002", "Invalid parameters.", [{"parameter": parameter, "description": description}])


def registration_not_found(reference: str) -> DnbError:
    """404 ``21501``: no registration with that reference."""
    return DnbError(404, "21501", f"Registration reference not found: {reference}.")


def no_notifications() -> DnbError:
    """404 ``21502``: nothing to pull or replay."""
    return DnbError(404, "21502", "No notifications available.")


def not_api_pull(reference: str) -> DnbError:
    """400 ``21503``: Pull/Replay on a registration that does not deliver through API_PULL."""
    return DnbError(400, "21503", f"Registration {reference} is not configured for API_PULL delivery.")


def duns_already_present(duns: str) -> DnbError:
    """409 ``21012``: the DUNS is already monitored by the registration."""
    return DnbError(409, "21012", f"DUNS {duns} is already part of the registration.")


def duns_not_found(duns: str) -> DnbError:
    """404 ``10001``: the DUNS is not part of the registration."""
    return DnbError(404, "10001", f"DUNS {duns} not found in the registration.")


def token_missing() -> DnbError:
    """401 ``00004``: no bearer token, or one the emulator never issued."""
    return DnbError(401, "00004", "Not authorised: missing or unknown access token.")


def token_expired() -> DnbError:
    """401 ``00040``: the bearer token has expired."""
    return DnbError(401, "00040", "Access token has expired.")


def bad_credentials() -> DnbError:
    """401 ``00041``: consumer key/secret rejected (v2 token endpoint)."""
    return DnbError(401, "00041", "Invalid credentials.")


def too_many_requests(retry_after: float | None) -> DnbError:
    """429 ``00045``; ``Retry-After`` only when one is configured (real D&B never sends it)."""
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
    return DnbError(429, "00045", "Too many requests. Exceeded the allowed rate limit.", headers=headers)


def unknown_path() -> DnbError:
    """404 ``00037``: no such resource."""
    return DnbError(404, "00037", "The requested resource was not found.")


def format_retry_after(seconds: float) -> str:
    """``Retry-After`` value: an integer when whole, else a short decimal."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
