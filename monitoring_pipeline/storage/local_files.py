"""Local files written atomically: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
# A temp file younger than this may belong to a writer that is still running.
STALE_TEMP_SECONDS = 60.0
_CHUNK = 1 << 20


def temp_path_for(path: Path) -> Path:
    """The temporary name ``path`` is written under: hidden, in the same directory, unique per process/thread."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TEMP_SUFFIX}")


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes ``path`` only when the block ends without an error.

    On error the temporary file is removed; a crash leaves at most that temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    try:
        with open(temp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # The rename itself must survive a power cut, not only the data.
    fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably, creating parent directories."""
    with atomic_writer(path) as handle:
        handle.write(data)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (a no-op where directories can't be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def same_bytes(path: Path, data: bytes) -> bool:
    """Whether ``path`` exists and holds exactly ``data`` (compares sizes before reading)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def remove_stale_files(directory: Path, keep: set[str], pattern: str) -> list[Path]:
    """Delete visible files in ``directory`` matching ``pattern`` whose name is not in ``keep``.

    Also sweeps temporary files left by crashed writers once they are older than a minute. Returns
    the removed paths; a missing directory removes nothing.
    """
    if not directory.is_dir():
        return []
    removed: list[Path] = []
    for path in sorted(directory.glob(pattern)):
        if path.name.startswith(".") or path.name in keep or not path.is_file():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in sorted(directory.glob(f".*{TEMP_SUFFIX}")):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            pass  # its writer finished or another sweeper got it
    if removed:
        fsync_directory(directory)
    return removed


def remove_empty_directory(directory: Path) -> bool:
    """Remove ``directory`` if it exists and is empty; report whether it was removed."""
    try:
        directory.rmdir()
    except OSError:
        return False
    return True
