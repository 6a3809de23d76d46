"""Realistic pages landed in the store for the file tests, and small readers of what was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator
from monitoring_pipeline.notifications.files import ExportSettings
from monitoring_pipeline.notifications.files.layout import day_files
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.storage.schema import dnb_file_manifest

DAY = date(2026, 11, 20)
MORNING = datetime(2026, 11, 20, 9, 15, 2, 345000, tzinfo=UTC)
MIXED_TYPES = {"UPDATE": 0.6, "SEED": 0.2, "DELETE": 0.1, "TRANSFER": 0.1}
UNICODE_NOTIFICATION = {
    "type": "UPDATE",
    "organization": {"duns": "001017545"},
    "elements": [
        {
            "element": "organization.primaryName",
            "previous": "Cafe Zurich AG",
            "current": "Café Zürich AG",
            "timestamp": "2026-11-19T01:23:13Z",
        },
        {
            "element": "organization.numberOfEmployees",
            "previous": None,
            "current": [{"value": 12}],
            "timestamp": "2026-11-19T01:23:14Z",
        },
    ],
}


@dataclass
class Pages:
    """Lands realistic pages and remembers what each page held, in page order."""

    engine: Engine
    generator: NotificationGenerator = field(default_factory=lambda: NotificationGenerator(seed=1, seed_block_kb=1))
    landed: dict[tuple[str, datetime], list[dict[str, Any]]] = field(default_factory=dict)

    def land(self, reference: str, at: datetime, count: int = 4, extra: list[dict[str, Any]] | None = None) -> None:
        notifications = self.generator.generate(count, at, types=MIXED_TYPES) + list(extra or [])
        for notification in notifications:
            notification["deliveryTimeStamp"] = format_millis(at)
        land_page(self.engine, NotificationPage(reference, notifications, "rrt", "pull"))
        self.landed.setdefault((reference, at), []).extend(notifications)


def land_day(engine: Engine) -> Pages:
    """Two registrations with three pages each on DAY, and one page on the next day."""
    landed = Pages(engine)
    for minute, reference in enumerate(["ALPHA", "BRAVO", "ALPHA", "BRAVO", "ALPHA", "BRAVO"]):
        landed.land(reference, MORNING + timedelta(minutes=minute))
    landed.land("ALPHA", MORNING + timedelta(minutes=10), extra=[UNICODE_NOTIFICATION])
    landed.land("ALPHA", MORNING + timedelta(days=1))
    return landed


def files_of(settings: ExportSettings, day: date = DAY) -> dict[str, bytes]:
    return {p.relative_to(settings.base_path).as_posix(): p.read_bytes() for p in day_files(settings, day)}


def file_stats(settings: ExportSettings) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in day_files(settings, DAY)}


def manifest_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(dnb_file_manifest.c.path, dnb_file_manifest.c.notification_count))
        return dict(rows.tuples().all())


def temp_files(settings: ExportSettings) -> list[Path]:
    return sorted(settings.base_path.rglob("*.tmp"))


def day_pages_landed(pages: Pages, day: date = DAY) -> dict[tuple[str, datetime], list[dict[str, Any]]]:
    return {key: notes for key, notes in pages.landed.items() if key[1].date() == day}
