"""Direct+ response bodies: ``transactionDetail`` on everything, the error envelope, information messages."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator.errors import DnbError

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def transaction_detail(now: datetime) -> dict[str, str]:
    """A fresh ``transactionDetail`` ("rrt-" and 17 hex digits, like D&B's)."""
    return {
        "transactionID": "rrt-" + secrets.token_hex(9)[:17],
        "transactionTimestamp": format_millis(now),
        "inLanguage": "en-US",
    }


def success(now: datetime, body: dict[str, Any], status: int = 200) -> JSONResponse:
    """A successful Direct+ response: ``transactionDetail`` first, then ``body``."""
    return JSONResponse({"transactionDetail": transaction_detail(now), **body}, status_code=status)


def information(
    now: datetime, code: str | None, message: str, inquiry: dict[str, Any], status: int = 200
) -> JSONResponse:
    """A success that carries ``information`` (e.g. 21113 DUNS added)."""
    info: dict[str, Any] = {"code": code, "message": message} if code else {"message": message}
    return success(now, {"inquiryDetail": inquiry, "information": info}, status)


def error_response(now: datetime, error: DnbError) -> JSONResponse:
    """The Direct+ error envelope for ``error``."""
    payload: dict[str, Any] = {"errorCode": error.code, "errorMessage": error.message}
    if error.details:
        payload["errorDetails"] = [dict(detail) for detail in error.details]
    body = {"transactionDetail": transaction_detail(now), "error": payload}
    return JSONResponse(body, status_code=error.status, headers=error.headers or None)


def server_error(now: datetime, status: int) -> Response:
    """What an injected 5xx looks like: 500 ``00034``, 503 ``00002``, 502 a gateway's HTML page."""
    if status == 502:
        return HTMLResponse(BAD_GATEWAY_HTML, status_code=502)
    if status == 503:
        return error_response(now, DnbError(503, "00002", "Request timed out. Please try again later."))
    return error_response(now, DnbError(500, "00034", "Internal server error."))
