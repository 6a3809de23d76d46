"""A day of local notification files recorded in the manifest, as ``notification_files`` leaves them.

The destination tests start from here rather than from the whole pipeline (the Dagster tests do that):
files are written atomically under the real layout and recorded through the real manifest writer.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from monitoring_pipeline.notifications.files import ExportSettings, ManifestWriter, day_prefix
from monitoring_pipeline.notifications.files.layout import group_stem
from monitoring_pipeline.storage.local_files import atomic_write_bytes, sha256_bytes

REFERENCES = ("REF_A", "REF_B", "REF_C")


@dataclass
class LocalDay:
    engine: Engine
    settings: ExportSettings
    day: date

    @classmethod
    def create(cls, engine: Engine, base: Path, day: date, *, files: int, formats: tuple[str, ...] = ("json",),
               size: int = 4000, seed: int = 7) -> LocalDay:
        local = cls(engine, ExportSettings(base_path=base, formats=formats), day)
        rng = random.Random(seed)
        start = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
        for index in range(files):
            reference = REFERENCES[index % len(REFERENCES)]
            stem = group_stem(start + timedelta(seconds=index, milliseconds=index))
            for fmt in local.settings.formats:
                relative = f"{day_prefix(day)}/{reference}/{stem}{local.settings.suffix(fmt)}"
                local.write(relative, rng.randbytes(rng.randint(size // 2, size * 3 // 2)), reference)
        return local

    def write(self, relative: str, data: bytes, reference: str | None = None) -> None:
        """Write (or rewrite) a file and its manifest row, as a rebuild of notification_files would."""
        atomic_write_bytes(self.settings.base_path / relative, data)
        writer = ManifestWriter(self.engine, "local", self.day)
        writer.add(relative, reference or relative.split("/")[-2], 1, len(data), sha256_bytes(data))
        writer.flush()

    @property
    def paths(self) -> list[str]:
        root = self.settings.base_path
        return sorted(p.relative_to(root).as_posix() for p in (root / day_prefix(self.day)).rglob("*") if p.is_file())

    def read(self, relative: str) -> bytes:
        return (self.settings.base_path / relative).read_bytes()

    def digests(self) -> dict[str, str]:
        return {path: hashlib.sha256(self.read(path)).hexdigest() for path in self.paths}
