"""HTTP client for a running sandbox's ``/_sandbox`` admin API (tests, the demo, benchmarks)."""

from __future__ import annotations

from typing import Any

from monitoring_pipeline.fakes.admin_client import AdminCallError, AdminClient

# The sandbox refused an admin call; ``message`` is its explanation (field, expected form).
SandboxAdminError = AdminCallError


class SandboxAdmin(AdminClient):
    """Drives a running sandbox: endpoints and their behaviour, OAuth clients, counters.

    ``verify`` is passed to httpx (for an HTTPS sandbox: the certificate file, or False).
    """

    prefix = "/_sandbox"

    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint's behaviour (secrets masked), with ``phase_epoch`` and ``active_phase``."""
        return list(self._json("GET", "/endpoints")["endpoints"])

    def endpoint(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/endpoints/{name}")

    def put_endpoint(self, name: str, **behaviour: Any) -> dict[str, Any]:
        """Create or replace, e.g. ``put_endpoint("pay", latency_ms=(100, 300), error_rate=0.1)``."""
        return self._json("PUT", f"/endpoints/{name}", json=behaviour)

    def patch_endpoint(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change some fields, e.g. start an outage with ``status=503``; ``None`` resets a field."""
        return self._json("PATCH", f"/endpoints/{name}", json=changes)

    def delete_endpoint(self, name: str) -> None:
        self._json("DELETE", f"/endpoints/{name}")

    def bulk(self, prefix: str, count: int, **behaviour: Any) -> list[str]:
        """Create ``prefix-0000`` … with one behaviour; returns the names."""
        body = {"prefix": prefix, "count": count, "behaviour": behaviour}
        return list(self._json("POST", "/endpoints/bulk", json=body)["names"])

    def oauth_clients(self) -> list[str]:
        """Configured OAuth client ids (the API never returns secrets)."""
        return list(self._json("GET", "/oauth/clients")["oauth_clients"])

    def put_oauth_client(self, client_id: str, secret: str) -> None:
        self._json("PUT", f"/oauth/clients/{client_id}", json={"secret": secret})

    def stats(self) -> dict[str, Any]:
        """``{"total": N, "endpoints": {name: {"requests": N, "by_status": {"200": N}, "faults": {...}}}, ...}``."""
        return self._json("GET", "/stats")

    def reset_stats(self) -> None:
        self._json("POST", "/stats/reset")
