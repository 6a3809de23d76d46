"""Where the D&B access token lives between processes (sensor ticks and runs are separate processes).

D&B asks clients to reuse one token until near expiry. The token is a credential: the file cache is
readable by this user only, and no cache ever logs or prints it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from monitoring_pipeline.dnb.ratelimit import ensure_private_dir
from monitoring_pipeline.storage.schema import dnb_token_cache


@dataclass(frozen=True)
class CachedToken:
    access_token: str = field(repr=False)
    expires_at: float  # epoch seconds
    issued_at: float = 0.0  # epoch seconds; with expires_at gives the lifetime for early refresh

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


class TokenCache(Protocol):
    def load(self) -> CachedToken | None: ...

    def store(self, token: CachedToken) -> None: ...

    def discard(self, access_token: str) -> None:
        """Forget ``access_token`` if it is still the cached one (another process may have refreshed)."""
        ...

    def refresh_lock(self) -> AbstractContextManager[None]:
        """Held while fetching a new token so concurrent processes fetch only one."""
        ...


class MemoryTokenCache:
    """One process only (tests, one-off scripts)."""

    def __init__(self) -> None:
        self._token: CachedToken | None = None
        self._lock = threading.Lock()

    def load(self) -> CachedToken | None:
        return self._token

    def store(self, token: CachedToken) -> None:
        self._token = token

    def discard(self, access_token: str) -> None:
        if self._token and self._token.access_token == access_token:
            self._token = None

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        with self._lock:
            yield


class FileTokenCache:
    """Every process of this user on this machine: a 0600 JSON file in a 0700 directory."""

    def __init__(self, directory: Path | str, key: str) -> None:
        self.directory = Path(directory)
        ensure_private_dir(self.directory)
        self.path = self.directory / f"dnb-token-{key}.json"
        self._lock_path = self.directory / f"dnb-token-{key}.lock"
        self._thread_lock = threading.Lock()

    def load(self) -> CachedToken | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return CachedToken(
                access_token=str(data["access_token"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data.get("issued_at", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, token: CachedToken) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(
                {"access_token": token.access_token, "expires_at": token.expires_at, "issued_at": token.issued_at},
                handle,
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def discard(self, access_token: str) -> None:
        current = self.load()
        if current and current.access_token == access_token:
            self.path.unlink(missing_ok=True)

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


class SqlTokenCache:
    """Every process on every machine sharing the project database (PostgreSQL)."""

    def __init__(self, engine: Engine, key: str) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("SqlTokenCache needs a PostgreSQL engine")
        self.engine = engine
        self.key = key
        self._lock_id = int(key[:15], 16)

    def load(self) -> CachedToken | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(
                    dnb_token_cache.c.access_token, dnb_token_cache.c.expires_at, dnb_token_cache.c.updated_at
                ).where(
                    dnb_token_cache.c.cache_key == self.key
                )
            ).first()
        if row is None:
            return None
        return CachedToken(
            access_token=row.access_token,
            expires_at=row.expires_at.timestamp(),
            issued_at=row.updated_at.timestamp(),
        )

    def store(self, token: CachedToken) -> None:
        values = {
            "cache_key": self.key,
            "access_token": token.access_token,
            "expires_at": datetime.fromtimestamp(token.expires_at, UTC),
            "updated_at": datetime.fromtimestamp(token.issued_at or time.time(), UTC),
        }
        statement = pg_insert(dnb_token_cache).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[dnb_token_cache.c.cache_key],
            set_={k: statement.excluded[k] for k in ("access_token", "expires_at", "updated_at")},
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def discard(self, access_token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(dnb_token_cache).where(
                    dnb_token_cache.c.cache_key == self.key,
                    dnb_token_cache.c.access_token == access_token,
                )
            )

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": self._lock_id})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._lock_id})
                connection.commit()
