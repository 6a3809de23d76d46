"""The day's files: where they live (layout), their bytes (render), what was written (manifest), writing them
(export) and checking them (verify).

Other packages (``destinations``, the Dagster glue) use what this module exports; the submodules are its parts.
"""

from monitoring_pipeline.notifications.files.export import PATHS_PREVIEW, ExportResult, export_day
from monitoring_pipeline.notifications.files.layout import (
    FORMATS,
    LOCAL,
    ExportSettings,
    company_changes_path,
    day_prefix,
    day_prefixes,
    file_format,
    format_suffix,
)
from monitoring_pipeline.notifications.files.manifest import (
    ManifestRecord,
    ManifestWriter,
    day_records,
    days_with_files,
    stored_totals,
)
from monitoring_pipeline.notifications.files.render import deterministic_gzip
from monitoring_pipeline.notifications.files.verify import verify_day

__all__ = [
    "FORMATS",
    "LOCAL",
    "PATHS_PREVIEW",
    "ExportResult",
    "ExportSettings",
    "ManifestRecord",
    "ManifestWriter",
    "company_changes_path",
    "day_prefix",
    "day_prefixes",
    "day_records",
    "days_with_files",
    "deterministic_gzip",
    "export_day",
    "file_format",
    "format_suffix",
    "stored_totals",
    "verify_day",
]
