"""HTTP client for a running emulator's ``/_emulator`` admin API (tests, demo seeding, benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitoring_pipeline.fakes.admin_client import AdminClient


class EmulatorAdmin(AdminClient):
    """Drives a running emulator: registrations, queued notifications, faults, clock, ground truth."""

    prefix = "/_emulator"
    default_timeout_seconds = 60.0

    def create_registration(self, reference: str, **fields: Any) -> dict[str, Any]:
        return self._json("POST", "/registrations", json={"reference": reference, **fields})

    def registration(self, reference: str) -> dict[str, Any]:
        return self._json("GET", f"/registrations/{reference}")

    def queue(self, reference: str, notifications: Sequence[Mapping[str, Any]]) -> int:
        body = self._json("POST", f"/registrations/{reference}/notifications", json=list(notifications))
        return int(body["queued"])

    def generate(
        self, reference: str, count: int, types: Mapping[str, float] | None = None, duns: Sequence[str] | None = None
    ) -> int:
        body: dict[str, Any] = {"generate": count}
        if types is not None:
            body["types"] = dict(types)
        if duns is not None:
            body["duns"] = list(duns)
        return int(self._json("POST", f"/registrations/{reference}/notifications", json=body)["queued"])

    def stream(self, reference: str, per_minute: float, types: Mapping[str, float] | None = None) -> None:
        spec: dict[str, Any] = {"per_minute": per_minute}
        if types is not None:
            spec["types"] = dict(types)
        self._json("POST", f"/registrations/{reference}/notifications", json={"stream": spec})

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Switch faults on, e.g. ``faults(http_429={"count": 5, "retry_after": 1})``."""
        return self._json("POST", "/faults", json=faults)

    def clear_faults(self) -> None:
        self._json("POST", "/faults", json={"clear": True})

    def advance_clock(self, seconds: float) -> str:
        return str(self._json("POST", "/clock", json={"advance_seconds": seconds})["now"])

    def deliveries(self, reference: str | None = None) -> list[dict[str, Any]]:
        params = {"reference": reference} if reference else None
        return list(self._json("GET", "/deliveries", params=params)["deliveries"])

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/stats")
