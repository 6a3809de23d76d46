"""Fault injection: which D&B calls get a 429, a 5xx, a delay, a dropped or truncated response.

A fault set is posted as JSON to ``/_emulator/faults`` and replaces the previous one. Each fault fires
either for the next ``count`` matching calls or with a ``probability``; ``paths`` (substrings of the
request path) narrow which calls match. Admin calls never match.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Faults that replace or spoil the response; at most one of them fires per call, in this order.
RESPONSE_FAULTS = ("http_429", "http_5xx", "drop_connection", "truncate_json")
FAULT_NAMES = ("latency", *RESPONSE_FAULTS, "token_expiry_after_calls")
ALLOWED_5XX = (500, 502, 503)
MAX_LATENCY_SECONDS = 600.0


@dataclass
class FaultSpec:
    """One armed fault: when it fires, and its parameters."""

    kind: str
    count: int | None = None
    probability: float | None = None
    paths: tuple[str, ...] | None = None
    retry_after: float | None = None
    status: int = 500
    seconds: float = 0.0

    def matches(self, path: str) -> bool:
        """Whether a call to ``path`` is one this fault targets."""
        return self.paths is None or any(part in path for part in self.paths)

    def exhausted(self) -> bool:
        """A count-based fault that has fired its last time."""
        return self.count is not None and self.count <= 0

    def fire(self, rng: random.Random) -> bool:
        """Decide for one matching call, consuming one of ``count`` when it fires."""
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
            return True
        return rng.random() < (self.probability or 0.0)

    def describe(self) -> dict[str, Any]:
        """JSON view of what is still armed."""
        view: dict[str, Any] = {"count": self.count} if self.count is not None else {"probability": self.probability}
        view["paths"] = list(self.paths) if self.paths is not None else None
        if self.kind == "http_429":
            view["retry_after"] = self.retry_after
        elif self.kind == "http_5xx":
            view["status"] = self.status
        elif self.kind == "latency":
            view["seconds"] = self.seconds
        return view


@dataclass(frozen=True)
class FaultDraw:
    """What happens to one call."""

    latency_seconds: float = 0.0
    response_fault: FaultSpec | None = None

    @property
    def kind(self) -> str | None:
        """Name of the response fault that fired, if any."""
        return self.response_fault.kind if self.response_fault else None


@dataclass
class Faults:
    """The active fault set of one emulator."""

    specs: dict[str, FaultSpec] = field(default_factory=dict)
    token_expiry_after_calls: int | None = None
    ignored: tuple[str, ...] = ()
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Parse the body of ``POST /_emulator/faults``; raises ``ValueError`` naming the bad field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError("faults body must be a JSON object")
        faults = cls(ignored=tuple(sorted(k for k in data if k not in (*FAULT_NAMES, "clear", "seed"))))
        if "seed" in data:
            faults.rng = random.Random(_integer("seed", data["seed"], minimum=None))
        for name in ("latency", *RESPONSE_FAULTS):
            if data.get(name) is not None:
                faults.specs[name] = _parse_spec(name, data[name])
        if data.get("token_expiry_after_calls") is not None:
            faults.token_expiry_after_calls = _integer("token_expiry_after_calls", data["token_expiry_after_calls"])
        return faults

    def draw(self, path: str) -> FaultDraw:
        """Decide the faults of one D&B call (consumes counts of the faults that fire)."""
        latency = 0.0
        spec = self.specs.get("latency")
        if spec and spec.matches(path) and spec.fire(self.rng):
            latency = spec.seconds
        for name in RESPONSE_FAULTS:
            spec = self.specs.get(name)
            if spec and spec.matches(path) and spec.fire(self.rng):
                return FaultDraw(latency, spec)
        return FaultDraw(latency)

    def note_successful_call(self) -> bool:
        """Count one successful bearer call; True exactly when every token must expire now."""
        if self.token_expiry_after_calls is None:
            return False
        self.token_expiry_after_calls -= 1
        if self.token_expiry_after_calls > 0:
            return False
        self.token_expiry_after_calls = None
        return True

    def describe(self) -> dict[str, Any]:
        """JSON view of the faults still armed."""
        active = {name: spec.describe() for name, spec in self.specs.items() if not spec.exhausted()}
        view: dict[str, Any] = {"active": active, "token_expiry_after_calls": self.token_expiry_after_calls}
        if self.ignored:
            view["ignored_fields"] = list(self.ignored)
        return view


def _parse_spec(name: str, raw: object) -> FaultSpec:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name} must be a JSON object")
    has_count, has_probability = raw.get("count") is not None, raw.get("probability") is not None
    if has_count == has_probability:
        raise ValueError(f"{name} needs exactly one of 'count' or 'probability'")
    spec = FaultSpec(kind=name, paths=_paths(name, raw.get("paths")))
    if has_count:
        spec.count = _integer(f"{name}.count", raw["count"], minimum=0)
    else:
        spec.probability = _number(f"{name}.probability", raw["probability"])
        if spec.probability > 1:
            raise ValueError(f"{name}.probability must be between 0 and 1")
    if name == "http_429" and raw.get("retry_after") is not None:
        spec.retry_after = _number(f"{name}.retry_after", raw["retry_after"])
    if name == "http_5xx":
        spec.status = _integer(f"{name}.status", raw.get("status", 500))
        if spec.status not in ALLOWED_5XX:
            raise ValueError(f"{name}.status must be one of {', '.join(map(str, ALLOWED_5XX))}")
    if name == "latency":
        spec.seconds = _number(f"{name}.seconds", raw.get("seconds"))
        if spec.seconds > MAX_LATENCY_SECONDS:
            raise ValueError(f"latency.seconds must be at most {MAX_LATENCY_SECONDS:g}")
    return spec


def _paths(name: str, raw: object) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise ValueError(f"{name}.paths must be a list of non-empty strings")
    return tuple(raw)


def _integer(name: str, raw: object, minimum: int | None = 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"{name} must be an integer, got {raw!r}")
    if minimum is not None and raw < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw}")
    return raw


def _number(name: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ValueError(f"{name} must be a number, got {raw!r}")
    if raw < 0:
        raise ValueError(f"{name} must be 0 or more, got {raw}")
    return float(raw)
