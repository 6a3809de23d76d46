"""Atomic local writes: readers see old or new bytes, never a partial file; crashes leave only hidden temps."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from monitoring_pipeline.storage.local_files import (
    atomic_write_bytes,
    remove_empty_directory,
    remove_stale_files,
    sha256_file,
    temp_path_for,
)


def _hidden(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(".*"))


def test_atomic_write_creates_parents_overwrites_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "file.json"

    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")

    assert target.read_bytes() == b"second"
    assert _hidden(tmp_path) == []


def test_temp_name_is_hidden_in_the_same_directory_and_unique_per_thread(tmp_path):
    target = tmp_path / "file.json"
    names: list[Path] = []
    thread = threading.Thread(target=lambda: names.append(temp_path_for(target)))
    thread.start()
    thread.join()

    mine = temp_path_for(target)
    assert mine.parent == tmp_path and mine.name.startswith(".file.json.") and mine.name.endswith(".tmp")
    assert names[0] != mine


def test_a_failing_rename_keeps_the_old_file_and_removes_the_temp(tmp_path, monkeypatch):
    target = tmp_path / "file.json"
    atomic_write_bytes(target, b"old")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_bytes(target, b"new and longer")
    monkeypatch.undo()

    assert target.read_bytes() == b"old"
    assert _hidden(tmp_path) == []


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from monitoring_pipeline.storage.local_files import atomic_write_bytes
os.replace = lambda src, dst: os._exit(3)  # the process dies between fsync and rename
atomic_write_bytes(Path(sys.argv[1]), b"x" * 100_000)
"""


def test_a_crash_before_the_rename_leaves_no_final_file_and_its_temp_is_swept_later(tmp_path):
    target = tmp_path / "day" / "file.json"

    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(target)], check=False)

    assert done.returncode == 3
    assert not target.exists()
    [leftover] = _hidden(tmp_path)
    assert leftover.parent == target.parent and leftover.name.endswith(".tmp")
    # A young temp may belong to a live writer: kept. An old one is a crash's leftover: swept.
    assert remove_stale_files(target.parent, set(), "*") == []
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    assert remove_stale_files(target.parent, set(), "*") == [leftover]
    assert list(target.parent.iterdir()) == []


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "blob"
    atomic_write_bytes(path, data)

    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_remove_stale_files_keeps_listed_and_unmatched_names(tmp_path):
    for name in ("notifications_1.json", "notifications_2.json", "notifications_3.csv", "README"):
        atomic_write_bytes(tmp_path / name, b"x")

    removed = remove_stale_files(tmp_path, {"notifications_1.json"}, "notifications_*")

    assert removed == [tmp_path / "notifications_2.json", tmp_path / "notifications_3.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README", "notifications_1.json"]
    assert remove_stale_files(tmp_path / "missing", set(), "*") == []


def test_remove_empty_directory_only_removes_empty_ones(tmp_path):
    full = tmp_path / "full"
    atomic_write_bytes(full / "f", b"x")
    (tmp_path / "empty").mkdir()

    assert remove_empty_directory(tmp_path / "empty") is True
    assert remove_empty_directory(full) is False
    assert remove_empty_directory(tmp_path / "missing") is False
    assert full.is_dir()
