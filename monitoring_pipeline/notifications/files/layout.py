"""Where the day's files live and what they are called: the files tree every destination mirrors.

Under a base path (the local data directory, or a remote destination's base)::

    notifications/YYYY/MM/DD/<reference>/notifications_YYYYMMDD_HHMMSS_NNN.json[.gz]   (always)
                                                          ..._NNN.csv[.gz] / .parquet  (optional)
    company_changes/YYYY/MM/DD/company_changes_YYYYMMDD.parquet                        (the day's changes)

A page file is named after the ``deliveryTimeStamp`` of its Pull page; names derive only from landed
data, so re-materializing gives the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from monitoring_pipeline.dnb.identifiers import validate_reference

FORMATS = ("json", "csv", "parquet")
NOTIFICATIONS_DIR = "notifications"
COMPANY_CHANGES_DIR = "company_changes"
PAGE_FILE_PATTERN = "notifications_*"
LOCAL = "local"  # the manifest's destination for the local files


@dataclass(frozen=True)
class ExportSettings:
    """Where and what to write; ``json`` is always written, ``csv``/``parquet`` on request."""

    base_path: Path
    formats: tuple[str, ...] = ("json",)
    gzip: bool = False  # JSON and CSV only: Parquet is compressed already
    destination: str = LOCAL  # the manifest's destination column

    def __post_init__(self) -> None:
        requested = (self.formats,) if isinstance(self.formats, str) else tuple(self.formats)
        for name in requested:
            if name not in FORMATS:
                raise ValueError(f"unknown export format {name!r}: allowed formats are {', '.join(FORMATS)}")
        # One canonical order so equal settings name equal files.
        object.__setattr__(self, "formats", tuple(f for f in FORMATS if f == "json" or f in requested))
        object.__setattr__(self, "base_path", Path(self.base_path))

    def suffix(self, fmt: str) -> str:
        return format_suffix(fmt, self.gzip)


def format_suffix(fmt: str, gzip: bool) -> str:
    """``.json``, ``.csv.gz``, ``.parquet`` (never gzipped: Parquet is compressed already)..."""
    if fmt == "parquet":
        return ".parquet"
    return f".{fmt}.gz" if gzip else f".{fmt}"


def file_format(name: str) -> tuple[str, bool]:
    """(format, gzipped) of a file name such as ``notifications_..._001.csv.gz``."""
    gzipped = name.endswith(".gz")
    stem = name[:-3] if gzipped else name
    return stem.rsplit(".", 1)[-1], gzipped


def day_prefix(day: date) -> str:
    """The day's directory of page files relative to the base path, e.g. ``notifications/2026/11/20``."""
    return f"{NOTIFICATIONS_DIR}/{day:%Y/%m/%d}"


def company_changes_prefix(day: date) -> str:
    """The day's directory of the company changes file, e.g. ``company_changes/2026/11/20``."""
    return f"{COMPANY_CHANGES_DIR}/{day:%Y/%m/%d}"


def day_prefixes(day: date) -> tuple[str, ...]:
    """Every directory holding files of ``day``: what a destination lists and mirrors."""
    return day_prefix(day), company_changes_prefix(day)


def company_changes_path(day: date) -> str:
    """``company_changes/YYYY/MM/DD/company_changes_YYYYMMDD.parquet``: the day's element-level changes."""
    return f"{company_changes_prefix(day)}/company_changes_{day:%Y%m%d}.parquet"


def group_stem(instant: datetime) -> str:
    """``notifications_YYYYMMDD_HHMMSS_NNN`` for a page delivered at ``instant`` (UTC, milliseconds)."""
    moment = instant.astimezone(UTC)
    return f"notifications_{moment:%Y%m%d_%H%M%S}_{moment.microsecond // 1000:03d}"


def group_paths(settings: ExportSettings, day: date, reference: str, instant: datetime) -> list[str]:
    """Relative paths of a page's files, one per configured format."""
    stem = f"{day_prefix(day)}/{validate_reference(reference)}/{group_stem(instant)}"
    return [stem + settings.suffix(fmt) for fmt in settings.formats]


def day_files(settings: ExportSettings, day: date) -> list[Path]:
    """Page files of ``day`` on disk (temporary files excluded), sorted."""
    root = settings.base_path / day_prefix(day)
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"*/{PAGE_FILE_PATTERN}") if p.is_file() and not p.name.startswith("."))
