"""Helpers shared by the emulator tests: plain httpx calls and envelope assertions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig
from monitoring_pipeline_tests.conftest import CLIENT_ID as TEST_KEY
from monitoring_pipeline_tests.conftest import CLIENT_SECRET as TEST_SECRET

TRANSACTION_ID = re.compile(r"^rrt-[0-9a-f]{17}$")
MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MONITORING = "/v1/monitoring/registrations"


def get_token(client: httpx.Client, key: str = TEST_KEY, secret: str = TEST_SECRET) -> str:
    """A v3 token for ``key``."""
    response = client.post("/v3/token", auth=(key, secret), data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def create_registration(admin: httpx.Client, reference: str = "REG_A", **fields: Any) -> dict[str, Any]:
    """Create a registration through the admin API."""
    response = admin.post("/_emulator/registrations", json={"reference": reference, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def queue(admin: httpx.Client, reference: str, notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """Queue notifications exactly as given."""
    response = admin.post(f"/_emulator/registrations/{reference}/notifications", json=notifications)
    assert response.status_code == 200, response.text
    return response.json()


def update(duns: str, marker: str) -> dict[str, Any]:
    """A small UPDATE notification whose ``marker`` element tells notifications apart."""
    return {
        "type": "UPDATE",
        "organization": {"duns": duns},
        "elements": [{"element": "organization.marker", "previous": None, "current": marker}],
    }


def markers(notifications: list[dict[str, Any]]) -> list[str]:
    """The markers of notifications built by ``update``."""
    return [n["elements"][0]["current"] for n in notifications]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the Direct+ error envelope with ``code``; returns the ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    detail = body["transactionDetail"]
    assert TRANSACTION_ID.match(detail["transactionID"])
    assert MILLIS_Z.match(detail["transactionTimestamp"])
    assert detail["inLanguage"] == "en-US"
    assert body["error"]["errorCode"] == code
    assert body["error"]["errorMessage"]
    return body["error"]


def admin_view(admin: httpx.Client, reference: str) -> dict[str, Any]:
    """The admin view of one registration."""
    response = admin.get(f"/_emulator/registrations/{reference}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``predicate`` holds (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.05)


def advance_clock(admin: httpx.Client, seconds: float, api: httpx.Client | None = None) -> str:
    """Move the emulator clock; ``api`` gets a fresh token since old ones may have expired meanwhile."""
    response = admin.post("/_emulator/clock", json={"advance_seconds": seconds})
    assert response.status_code == 200, response.text
    if api is not None:
        api.headers["Authorization"] = f"Bearer {get_token(api)}"
    return response.json()["now"]


def unlimited_config(**extra_credentials: str) -> EmulatorConfig:
    """The test key without a rate limit (functional tests), plus more keys (``key=secret``)."""
    return EmulatorConfig(client_id=TEST_KEY, client_secret=TEST_SECRET, rate_limit_per_second=None,
                          extra_credentials=extra_credentials)
