"""Notifications about one company for the company state tests: a seed block, updates, transfers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

REF = "COMPANY_STATE"
DUNS = "213310873"
OTHER = "001017545"
T0 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def transfer(*retained: Any) -> dict[str, Any]:
    transfers = [{"transferredFromDUNS": DUNS, "retainedDUNS": duns} for duns in retained]
    return {"type": "TRANSFER", "organization": {"duns": DUNS, "dunsControlStatus": {"dunsTransfers": transfers}}}


def change(element: str, current: Any) -> dict[str, Any]:
    return {"element": element, "previous": "?", "current": current, "timestamp": "2026-11-17T01:23:13Z"}


def update(*changes: dict[str, Any], duns: str = DUNS) -> dict[str, Any]:
    return {"type": "UPDATE", "organization": {"duns": duns}, "elements": list(changes)}


SEED_BLOCK = {
    "duns": DUNS,
    "primaryName": "ACME LTD",
    "primaryAddress": {"postalCode": "EC2", "addressLocality": {"name": "LONDON"}},
    "telephone": [{"telephoneNumber": "1"}],
    "dnbAssessment": {"standardRating": {"rating": "5A2", "scoreDate": "2026-11-01"}},
}
