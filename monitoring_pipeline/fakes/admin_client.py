"""The client side of a fake's control API (``fakes.admin``): an HTTP client under the API's prefix whose calls
return the JSON answer or raise ``AdminCallError`` with the fake's explanation."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import httpx


# An httpx.HTTPStatusError, as raise_for_status raises, that also carries the fake's own message; a RuntimeError
# too, as the sandbox client's errors always were.
class AdminCallError(httpx.HTTPStatusError, RuntimeError):
    """A fake refused an admin call; ``message`` is its explanation (field, expected form)."""

    def __init__(self, response: httpx.Response) -> None:
        try:
            message = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            message = response.text
        super().__init__(f"{response.status_code}: {message}", request=response.request, response=response)
        self.status_code = response.status_code
        self.message = message


class AdminClient:
    """Drives a running fake through its control API under ``prefix``; use as a context manager.

    ``verify`` is passed to httpx (for an HTTPS fake: the certificate file, or False).
    """

    prefix: ClassVar[str] = ""
    default_timeout_seconds: ClassVar[float] = 30.0

    def __init__(self, base_url: str, timeout_seconds: float | None = None, verify: Any = True) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + self.prefix,
            timeout=self.default_timeout_seconds if timeout_seconds is None else timeout_seconds,
            verify=verify,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise AdminCallError(response)
        return response.json()

    def reset(self) -> None:
        """Forget everything but the fake's configuration."""
        self._json("POST", "/reset")
