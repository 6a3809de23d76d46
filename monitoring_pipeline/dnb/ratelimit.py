"""One D&B call budget shared by every process using a consumer key.

All limiters use the same rule (GCRA / virtual scheduling with no burst): each call reserves the
next free slot, slots ``(1 + safety_margin) / rate`` seconds apart, and sleeps until its slot.
Spacing calls evenly, rather than allowing bursts, keeps any 1-second window at or under the limit
even when requests from several processes reach D&B with a little jitter.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from monitoring_pipeline.storage.schema import dnb_rate_limit

DEFAULT_RATE_PER_SECOND = 5.0
DEFAULT_SAFETY_MARGIN = 0.06
# A stored slot further ahead than this means the wall clock jumped back: start afresh.
_MAX_PLAUSIBLE_BACKLOG_SECONDS = 600.0


class RateLimiter(Protocol):
    """Blocks until the caller may make one D&B call."""

    def acquire(self) -> float:
        """Wait for a call slot; return the seconds waited."""
        ...


def limiter_key(base_url: str, client_id: str) -> str:
    """Opaque key naming one consumer key on one D&B environment (no credential in clear)."""
    return hashlib.sha256(f"{base_url.rstrip('/')}|{client_id}".encode()).hexdigest()[:32]


def slot_interval(rate_per_second: float, safety_margin: float = DEFAULT_SAFETY_MARGIN) -> float:
    if rate_per_second <= 0:
        raise ValueError(f"rate_per_second must be > 0, got {rate_per_second}")
    if not 0 <= safety_margin < 1:
        raise ValueError(f"safety_margin must be in [0, 1), got {safety_margin}")
    return (1.0 + safety_margin) / rate_per_second


class UnlimitedRateLimiter:
    """No limit (benchmarks of client overhead, emulator with its limit off)."""

    def acquire(self) -> float:
        return 0.0


class _SlotLimiter:
    """Shared sleep logic: subclasses implement ``_reserve`` returning the seconds until our slot."""

    def __init__(self, interval: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self._sleep = sleep

    def _reserve(self) -> float:
        raise NotImplementedError

    def acquire(self) -> float:
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0


class LocalRateLimiter(_SlotLimiter):
    """Threads of one process."""

    def __init__(
        self, rate_per_second: float = DEFAULT_RATE_PER_SECOND, safety_margin: float = DEFAULT_SAFETY_MARGIN
    ) -> None:
        super().__init__(slot_interval(rate_per_second, safety_margin))
        self._lock = threading.Lock()
        self._next_slot = 0.0

    def _reserve(self) -> float:
        with self._lock:
            now = time.time()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self.interval
            return slot - now


class FileRateLimiter(_SlotLimiter):
    """Every process on this machine: the next slot lives in a small file guarded by ``flock``."""

    def __init__(
        self,
        directory: Path | str,
        key: str,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
    ) -> None:
        super().__init__(slot_interval(rate_per_second, safety_margin))
        self.path = Path(directory) / f"dnb-rate-{key}.slot"
        ensure_private_dir(self.path.parent)
        self._thread_lock = threading.Lock()

    def _reserve(self) -> float:
        with self._thread_lock, _locked_file(self.path) as handle:
            now = time.time()
            handle.seek(0)
            stored = _parse_float(handle.read())
            if stored - now > _MAX_PLAUSIBLE_BACKLOG_SECONDS:
                stored = 0.0
            slot = max(stored, now)
            handle.seek(0)
            handle.truncate()
            handle.write(repr(slot + self.interval))
            handle.flush()
            return slot - now


class PostgresRateLimiter(_SlotLimiter):
    """Every process on every machine sharing the project database.

    One atomic ``UPDATE ... RETURNING`` on the database server's clock, so machines' clock skew
    does not matter.
    """

    def __init__(
        self,
        engine: Engine,
        key: str,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
    ) -> None:
        super().__init__(slot_interval(rate_per_second, safety_margin))
        if engine.dialect.name != "postgresql":
            raise ValueError("PostgresRateLimiter needs a PostgreSQL engine")
        self.engine = engine
        self.key = key
        with engine.begin() as connection:
            connection.execute(
                pg_insert(dnb_rate_limit)
                .values(limiter_key=key, next_slot=text("clock_timestamp()"))
                .on_conflict_do_nothing()
            )

    def _reserve(self) -> float:
        with self.engine.begin() as connection:
            wait = connection.execute(
                text(
                    "UPDATE dnb_rate_limit"
                    " SET next_slot = GREATEST(next_slot, clock_timestamp()) + make_interval(secs => :interval)"
                    " WHERE limiter_key = :key"
                    " RETURNING EXTRACT(EPOCH FROM"
                    " (next_slot - make_interval(secs => :interval) - clock_timestamp()))"
                ),
                {"interval": self.interval, "key": self.key},
            ).scalar_one()
        return float(wait)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` readable by this user only (it may hold tokens)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.stat().st_mode & 0o077:
        os.chmod(directory, 0o700)


@contextmanager
def _locked_file(path: Path) -> Iterator:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parse_float(text_value: str) -> float:
    try:
        return float(text_value.strip() or 0.0)
    except ValueError:
        return 0.0
