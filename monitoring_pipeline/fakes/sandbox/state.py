"""What a running sandbox holds: its endpoints, OAuth clients and tokens, and request counters.

Requests and admin calls run in the server's event loop; tests may also call these methods from their
own thread, so every method takes a short lock (never across an ``await``).
"""

from __future__ import annotations

import asyncio
import hmac
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from monitoring_pipeline.fakes.sandbox.behaviour import EndpointBehaviour, ResponsePlan, is_endpoint_name
from monitoring_pipeline.fakes.sandbox.scenario import SandboxConfig

MAX_BULK = 100_000
_MAX_TOKENS = 100_000  # issued tokens kept before expired ones are pruned


class UnknownEndpoint(KeyError):
    """No endpoint of that name."""


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as served: its behaviour and the instant (POSIX seconds) its phases count from."""

    behaviour: EndpointBehaviour
    epoch: float

    @property
    def name(self) -> str:
        return self.behaviour.name

    def plan(self, now: float) -> ResponsePlan:
        """The behaviour in force at ``now``."""
        return self.behaviour.plan_at(now - self.epoch)

    def public_view(self, now: float) -> dict[str, Any]:
        """Admin view: the behaviour (secrets masked), the epoch and the phase in force."""
        return {
            **self.behaviour.public_view(),
            "phase_epoch": _iso(self.epoch),
            "active_phase": self.behaviour.phase_index(now - self.epoch),
        }


@dataclass
class _Counters:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_status": dict(self.by_status), "faults": dict(self.faults)}


class SandboxState:
    """Endpoints by name, OAuth clients and issued tokens, counters; ``clock`` gives POSIX seconds."""

    def __init__(self, config: SandboxConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config if config is not None else SandboxConfig()
        self.clock = clock
        self.rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}
        self._counters: dict[str, _Counters] = {}
        self._unknown_requests = 0
        self._token_requests: Counter[str] = Counter()
        self._clients: dict[str, SecretStr] = dict(self.config.oauth_clients)
        self._tokens: dict[str, float] = {}  # token -> expiry (POSIX seconds)
        self._hung: set[asyncio.Future[None]] = set()
        for behaviour in self.config.endpoints:
            self.put(behaviour)

    # -- endpoints ------------------------------------------------------------------------------

    def put(self, behaviour: EndpointBehaviour) -> Endpoint:
        """Create or replace an endpoint; its phases start now unless it sets ``phase_epoch``."""
        endpoint = Endpoint(behaviour, self._epoch(behaviour, self.clock()))
        with self._lock:
            self._endpoints[behaviour.name] = endpoint
        return endpoint

    def patch(self, name: str, changes: Mapping[str, Any]) -> Endpoint:
        """Change some fields of an endpoint; ``None`` puts a field back to its default.

        Changing ``phases`` or ``phase_epoch`` restarts the cycle; other changes keep its rhythm.
        Raises ``UnknownEndpoint`` or pydantic's ``ValidationError``.
        """
        with self._lock:
            current = self._endpoints.get(name)
        if current is None:
            raise UnknownEndpoint(name)
        definition = current.behaviour.definition()
        for key, value in changes.items():
            if value is None:
                definition.pop(key, None)
            else:
                definition[key] = value
        behaviour = EndpointBehaviour.model_validate({**definition, "name": name})
        restart = "phases" in changes or "phase_epoch" in changes
        epoch = self._epoch(behaviour, self.clock()) if restart else current.epoch
        endpoint = Endpoint(behaviour, epoch)
        with self._lock:
            self._endpoints[name] = endpoint
        return endpoint

    def delete(self, name: str) -> None:
        """Remove an endpoint (its counters stay until ``reset``)."""
        with self._lock:
            if self._endpoints.pop(name, None) is None:
                raise UnknownEndpoint(name)

    def bulk(self, prefix: str, count: int, fields: Mapping[str, Any]) -> list[str]:
        """Create ``prefix-0000`` … ``prefix-{count-1}`` with one behaviour; returns the names."""
        if not 1 <= count <= MAX_BULK:
            raise ValueError(f"count must be between 1 and {MAX_BULK}")
        width = max(4, len(str(count - 1)))
        names = [f"{prefix}-{index:0{width}d}" for index in range(count)]
        if not is_endpoint_name(prefix) or not is_endpoint_name(names[-1]):
            raise ValueError(f"prefix {prefix!r} does not make valid endpoint names such as {names[-1]!r}")
        behaviours = [EndpointBehaviour.model_validate({**fields, "name": name}) for name in names]
        now = self.clock()
        with self._lock:
            for behaviour in behaviours:
                self._endpoints[behaviour.name] = Endpoint(behaviour, self._epoch(behaviour, now))
        return names

    def endpoint(self, name: str) -> Endpoint | None:
        """The endpoint called ``name``, if any."""
        return self._endpoints.get(name)

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint, by name."""
        with self._lock:
            return sorted(self._endpoints.values(), key=lambda endpoint: endpoint.name)

    def reset(self) -> None:
        """Remove every endpoint, counter and issued token; OAuth clients go back to the configured ones."""
        with self._lock:
            self._endpoints.clear()
            self._counters.clear()
            self._unknown_requests = 0
            self._token_requests.clear()
            self._tokens.clear()
            self._clients = dict(self.config.oauth_clients)

    def reset_stats(self) -> None:
        """Zero the counters only."""
        with self._lock:
            self._counters.clear()
            self._unknown_requests = 0
            self._token_requests.clear()

    @staticmethod
    def _epoch(behaviour: EndpointBehaviour, now: float) -> float:
        return behaviour.phase_epoch.timestamp() if behaviour.phase_epoch is not None else now

    # -- counters -------------------------------------------------------------------------------

    def count_request(self, name: str) -> None:
        """Count a request to endpoint ``name`` as it arrives."""
        with self._lock:
            self._counters_of(name).requests += 1

    def count_answer(self, name: str, status: int | None = None, fault: str | None = None) -> None:
        """Record how a counted request ended: a status sent, or a fault (``reset``, ``hang``)."""
        with self._lock:
            counters = self._counters_of(name)
            if status is not None:
                counters.by_status[str(status)] += 1
            if fault is not None:
                counters.faults[fault] += 1

    def _counters_of(self, name: str) -> _Counters:
        counters = self._counters.get(name)
        if counters is None:
            counters = self._counters[name] = _Counters()
        return counters

    def count_unknown(self) -> None:
        with self._lock:
            self._unknown_requests += 1

    def stats(self) -> dict[str, Any]:
        """``{"total": N, "endpoints": {name: {"requests", "by_status", "faults"}}, ...}``."""
        with self._lock:
            endpoints = {name: self._counters[name].as_json() for name in sorted(self._counters)}
            return {
                "total": sum(counters["requests"] for counters in endpoints.values()),
                "endpoints": endpoints,
                "unknown_endpoint_requests": self._unknown_requests,
                "oauth_token_requests": dict(self._token_requests),
            }

    # -- OAuth2 client credentials --------------------------------------------------------------

    def client_ids(self) -> list[str]:
        """Configured OAuth client ids (never their secrets)."""
        with self._lock:
            return sorted(self._clients)

    def set_client(self, client_id: str, secret: SecretStr) -> None:
        with self._lock:
            self._clients[client_id] = secret

    def issue_token(self, client_id: str | None, secret: str | None) -> str | None:
        """A new access token when the client's credentials are right, else None."""
        now = self.clock()
        with self._lock:
            known = self._clients.get(client_id or "")
            if known is None or secret is None or not hmac.compare_digest(known.get_secret_value(), secret):
                self._token_requests["rejected"] += 1
                return None
            if len(self._tokens) >= _MAX_TOKENS:
                self._tokens = {token: expiry for token, expiry in self._tokens.items() if expiry > now}
            token = secrets.token_urlsafe(32)
            self._tokens[token] = now + self.config.token_lifetime_seconds
            self._token_requests["issued"] += 1
            return token

    def token_valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        expiry = self._tokens.get(token)
        return expiry is not None and self.clock() < expiry

    # -- requests held open by the hang fault ---------------------------------------------------

    def hold(self) -> asyncio.Future[None]:
        """A future a hanging request waits on; ``release_held_requests`` resolves it (at shutdown)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hung.add(future)
        future.add_done_callback(self._hung.discard)
        return future

    def held_requests(self) -> int:
        """How many requests the hang fault is holding open right now."""
        return len(self._hung)

    def release_held_requests(self) -> None:
        """Let every hanging request end (called in the event loop before the server shuts down)."""
        for future in list(self._hung):
            if not future.done():
                future.set_result(None)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
