"""What every remote store of notification files offers, and the errors it raises.

Paths are relative to the destination's base (remote directory or key prefix) and always use ``/``:
``notifications/YYYY/MM/DD/<reference>/<file>``, as on local disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol


class DestinationError(RuntimeError):
    """A destination failed. The message names the destination (host, port or bucket) and what failed,
    never a credential."""


class DestinationAuthError(DestinationError):
    """The destination refused our credentials (not retried)."""


class HostKeyError(DestinationError):
    """The server's host key is unknown or differs from the pinned one (not retried)."""


@dataclass(frozen=True, order=True)
class RemoteFile:
    path: str  # relative to the destination's base
    size: int


# Called after each file lands under its final name (tests use it to cut a transfer mid-way).
UploadHook = Callable[[str], None]


def put_in_parallel(
    put: Callable[[str, bytes, str], None],
    items: list[tuple[str, bytes, str]],
    on_stored: UploadHook | None,
    workers: int,
    thread_name: str,
) -> None:
    """Run ``put`` over ``items`` in ``workers`` threads; after the first failure no new file is started,
    and that failure is raised once the files in flight are done."""
    failed = threading.Event()

    def one(item: tuple[str, bytes, str]) -> None:
        if failed.is_set():
            return
        try:
            put(*item)
        except BaseException:
            failed.set()
            raise
        if on_stored is not None:
            on_stored(item[0])

    if workers <= 1 or len(items) <= 1:
        for item in items:
            one(item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix=thread_name) as pool:
        errors = [future.exception() for future in [pool.submit(one, item) for item in items]]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        raise first


class RemoteStore(Protocol):
    """A place notification files are copied to. Every write is atomic: readers see a whole file or none."""

    name: str  # the manifest's destination name
    retries: int  # reconnections/retried calls so far (reported in metadata)

    def describe(self) -> str:
        """Where this is, for messages: ``sftp://user@host:port/base`` or ``s3://bucket/prefix`` (no secrets)."""
        ...

    def put(self, path: str, data: bytes, sha256: str) -> None:
        """Store ``data`` at ``path`` atomically, creating directories; ``sha256`` is recorded where the store can."""
        ...

    def put_many(self, items: list[tuple[str, bytes, str]], on_stored: UploadHook | None = None) -> None:
        """``put`` every (path, data, sha256), possibly in parallel; ``on_stored(path)`` after each one lands."""
        ...

    def list_files(self, prefix: str) -> list[RemoteFile]:
        """Visible files under ``prefix`` (recursively), temporary files excluded."""
        ...

    def sha256(self, path: str) -> str | None:
        """The stored file's sha256 (hex), or None if it is gone."""
        ...

    def delete(self, paths: list[str]) -> None:
        """Remove ``paths`` (missing ones are fine)."""
        ...

    def sweep_temporary(self, prefix: str, older_than_seconds: float) -> int:
        """Remove temporary files a crashed writer left under ``prefix``; return how many."""
        ...

    def close(self) -> None: ...
