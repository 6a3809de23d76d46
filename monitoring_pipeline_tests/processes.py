"""The project's commands run as real processes: started, read from, stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
URL = re.compile(r"https?://127\.0\.0\.1:\d+")


def cli(*args: str, env: dict[str, str | None] | None = None, cwd: Path = REPO, **popen: Any) -> subprocess.Popen[str]:
    """``monitoring-pipeline <args>`` in ``cwd``, its output piped; ``env`` adds to (or, None values, removes from)
    this process's environment."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=environment, **popen,
    )


@contextmanager
def running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def line_from(stream: IO[str] | None, text: str) -> str:
    """The first line holding ``text`` (the process prints it once it is ready)."""
    assert stream is not None
    for line in stream:
        if text in line:
            return line
    raise AssertionError(f"the process ended without printing {text!r}")


def url_from(stream: IO[str] | None, text: str) -> str:
    """The first URL on the first line holding ``text``."""
    line = line_from(stream, text)
    match = URL.search(line)
    assert match, line
    return match.group(0)
