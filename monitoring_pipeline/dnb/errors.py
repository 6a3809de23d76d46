"""Typed errors of the D&B Direct+ client. Messages never contain credentials or tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

AUTH_ERROR_CODES = frozenset({"00004", "00040", "00041"})
RATE_LIMIT_ERROR_CODES = frozenset({"00045", "00046"})
NO_NOTIFICATIONS_CODE = "21502"
ALREADY_PRESENT_CODE = "21012"


class DnbError(Exception):
    """Base class of every error raised by the D&B client."""

    retryable: bool = False


class DnbApiError(DnbError):
    """D&B answered with an error envelope; branch on ``error_code``, not on the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None,
        http_status: int,
        transaction_id: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
    ) -> None:
        self.error_code = error_code
        self.http_status = http_status
        self.transaction_id = transaction_id
        self.details = list(details)
        self.retry_after = retry_after
        self.error_message = message
        parts = [f"D&B error {error_code or '?'} (HTTP {http_status}): {message}"]
        if self.details:
            parts.append("; ".join(f"{d.get('parameter', '?')}: {d.get('description', '')}" for d in self.details))
        if transaction_id:
            parts.append(f"transactionID={transaction_id}")
        super().__init__(" | ".join(parts))


class DnbAuthError(DnbApiError):
    """Credentials rejected, token expired or unknown (00040 / 00041 / 00004 / invalid_client)."""


class DnbRateLimitError(DnbApiError):
    """429: too many requests for this consumer key."""

    retryable = True


class DnbServerError(DnbApiError):
    """5xx: D&B is failing or timing out on its side."""

    retryable = True


class DnbNotFoundError(DnbApiError):
    """404: unknown path, registration (21501) or DUNS (10001)."""


class DnbRequestError(DnbApiError):
    """4xx other than auth, 404 and 429: the request itself is wrong (10002, 21503, ...)."""


class DnbTransportError(DnbError):
    """The exchange failed below HTTP: timeout, refused or dropped connection.

    ``request_sent`` is False when the request provably never reached D&B (connect errors), which
    matters for the destructive Pull: anything else may have consumed notifications.
    ``may_complete_later`` is True for timeouts: D&B may still be processing the request.
    """

    retryable = True

    def __init__(self, message: str, *, request_sent: bool, may_complete_later: bool = False) -> None:
        self.request_sent = request_sent
        self.may_complete_later = may_complete_later
        super().__init__(message)


class DnbMalformedResponseError(DnbError):
    """A 2xx response whose body is not the JSON we expect (for example truncated)."""

    retryable = True

    def __init__(self, message: str, *, http_status: int, transaction_id: str | None = None) -> None:
        self.http_status = http_status
        self.transaction_id = transaction_id
        super().__init__(message)


class DnbResponseLostError(DnbError):
    """A destructive Pull whose response was lost after D&B may have consumed the notifications.

    Not retried blindly: the caller must heal the gap through Replay.
    """

    def __init__(self, message: str, *, cause: DnbError) -> None:
        self.cause = cause
        self.may_complete_later = bool(getattr(cause, "may_complete_later", False))
        super().__init__(message)


class DnbCircuitOpenError(DnbError):
    """The circuit breaker is open: D&B failed repeatedly, calls fail fast until the cool-down ends."""

    def __init__(self, message: str, *, retry_in: float) -> None:
        self.retry_in = retry_in
        super().__init__(message)


# Answers that D&B sends as errors but that are expected outcomes, not failures (an empty queue, a DUNS already there).
_EXPECTED_CODES = frozenset({NO_NOTIFICATIONS_CODE, ALREADY_PRESENT_CODE})


def error_reason(error: DnbError) -> str | None:
    """The low-cardinality reason a D&B call failed, for counting (``dnb_api_errors_total``); None for an expected
    answer (an empty notification queue, a DUNS already monitored)."""
    if isinstance(error, DnbApiError) and error.error_code in _EXPECTED_CODES:
        return None
    reasons: tuple[tuple[type[DnbError], str], ...] = (
        (DnbRateLimitError, "rate_limited"), (DnbServerError, "server_error"), (DnbAuthError, "auth"),
        (DnbNotFoundError, "not_found"), (DnbApiError, "client_error"), (DnbTransportError, "transport"),
        (DnbMalformedResponseError, "malformed_response"),
    )
    return next((reason for kind, reason in reasons if isinstance(error, kind)), "other")
