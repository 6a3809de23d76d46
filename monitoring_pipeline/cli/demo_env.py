"""The demo's settings in ``./.env``, where every command run in this folder finds them.

`monitoring-pipeline` loads ``./.env`` before any command (so does Dagster), so `monitoring-pipeline status` in a
second terminal reports the running demo: its emulator, its client, its data folder. The file is the demo's only
while the demo runs: written when it starts, removed when it stops, since what it names (servers on loopback ports,
demo credentials) is gone then, and a later command in this folder must not be sent to a stopped emulator.

A ``.env`` the demo did not write (it starts with ``MARKER``) is never touched: the demo writes ``.env.demo``
beside it and says how to use it. Secrets are written only when they are the demo's own published values; one
taken from the user's environment stays there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dotenv import dotenv_values

MARKER = "# Written by `monitoring-pipeline demo`"
ENV_FILE = Path(".env")
BESIDE = ".env.demo"


@dataclass(frozen=True)
class DemoSetting:
    name: str
    value: str
    secret: bool = False
    demo_value: bool = True  # a secret may be written only when it is the demo's own, published value


@dataclass
class DemoEnvFile:
    """Writes the demo's settings to ``path`` (``./.env``) when it can, else beside it, and removes them again."""

    path: Path = ENV_FILE
    written_to: Path | None = None
    _text: str | None = None

    def write(self, settings: Iterable[DemoSetting]) -> str:
        """Write the settings; returns the line the demo prints about it."""
        target = self.path if self._is_free(self.path) else self.path.with_name(BESIDE)
        text = render(settings)
        # Noted first: a stop that comes while the file is written must still remove it.
        self.written_to, self._text = target, text
        _write_private(target, text)
        if target == self.path:
            return (f"Demo settings written to {display(target)} (removed when the demo stops): "
                    f"`monitoring-pipeline status` in another terminal of this folder reports this demo")
        return (f"{display(self.path)} was not written by the demo and is left as it is; the demo's settings are in "
                f"{display(target)}: in another terminal, `set -a; . {display(target)}; set +a` before "
                f"`monitoring-pipeline status`")

    def remove(self) -> str | None:
        """Remove what ``write`` wrote, unless someone changed it since; returns a line to print, if any."""
        target, self.written_to = self.written_to, None
        if target is None:
            return None
        try:
            current = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        if current != self._text:
            return f"{display(target)} was changed while the demo ran: left as it is"
        target.unlink()
        return None

    @staticmethod
    def _is_free(path: Path) -> bool:
        return not path.exists() or is_demo_file(path)


def is_demo_file(path: Path) -> bool:
    """Whether ``path`` was written by the demo (a leftover of one that was killed, say)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def forget_leftovers(path: Path = ENV_FILE, environ: os._Environ[str] | dict[str, str] = os.environ) -> list[str]:
    """Remove from ``environ`` what a leftover demo ``.env`` put there (the CLI loads ``./.env`` first): a new demo
    starts from the user's settings, not from those of a demo that was killed. Returns the names removed."""
    if not is_demo_file(path):
        return []
    removed = []
    for name, value in dotenv_values(path).items():
        if value is not None and environ.get(name) == value:
            del environ[name]
            removed.append(name)
    return removed


def render(settings: Iterable[DemoSetting]) -> str:
    """The file's text: the marker, then ``NAME='value'`` lines (readable by python-dotenv and by a shell)."""
    lines = [f"{MARKER} at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC (pid {os.getpid()}); removed when it stops.",
             "# Every `monitoring-pipeline` and `dagster` command run in this folder reads it."]
    for setting in settings:
        if setting.secret and not setting.demo_value:
            lines.append(f"# {setting.name} is not written here: it comes from your environment.")
        else:
            lines.append(f"{setting.name}={_quoted(setting.value)}")
    return "\n".join(lines) + "\n"


def settings_of(values: Mapping[str, str], secrets: Mapping[str, bool]) -> list[DemoSetting]:
    """``DemoSetting``s of ``values``; ``secrets`` maps each secret's name to whether its value is the demo's own."""
    return [DemoSetting(name, value, secret=name in secrets, demo_value=secrets.get(name, True))
            for name, value in values.items()]


def display(path: Path) -> str:
    try:
        return "./" + str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _quoted(value: str) -> str:
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    return f'"{escaped}"'.replace("\n", "\\n")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (it may hold the demo's credentials)."""
    descriptor, temporary = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
