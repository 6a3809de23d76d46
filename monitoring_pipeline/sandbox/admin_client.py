"""HTTP client for a running sandbox's ``/_sandbox`` admin API (tests, the demo, benchmarks)."""

from __future__ import annotations

from typing import Any

import httpx


class SandboxAdminError(RuntimeError):
    """The sandbox refused an admin call; the message is its explanation (field, expected form)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class SandboxAdmin:
    """Drives a running sandbox: endpoints and their behaviour, OAuth clients, counters.

    ``verify`` is passed to httpx (for an HTTPS sandbox: the certificate file, or False).
    """

    def __init__(self, base_url: str, timeout_seconds: float = 30.0, verify: Any = True) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/_sandbox", timeout=timeout_seconds, verify=verify
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise SandboxAdminError(response.status_code, message)
        return response.json()

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

    def reset(self) -> None:
        """Remove every endpoint and counter (OAuth clients go back to the configured ones)."""
        self._json("POST", "/reset")
