"""The alerting file and the integrations file as the engine uses them, parsed again only when one changes (each
Dagster tick and each ops-service request asks for them; parsing thousands of integrations every time would not do)."""

from __future__ import annotations

import threading
from pathlib import Path

from monitoring_pipeline.alerting.config import AlertingConfig, load_alerting
from monitoring_pipeline.integrations.config import IntegrationsFile, load_integrations

_LOADED: dict[str, tuple[tuple[int, int], AlertingConfig, IntegrationsFile | None]] = {}
_LOCK = threading.Lock()


def load_alerting_files(path: Path, integrations_path: Path | None = None
                        ) -> tuple[AlertingConfig, IntegrationsFile | None]:
    """Both files as validated (``AlertingConfigError`` / the integrations file's error naming file and field)."""
    stamps = (_modified(Path(path)), _modified(Path(integrations_path)) if integrations_path else 0)
    key = f"{path}\x00{integrations_path}"
    with _LOCK:
        cached = _LOADED.get(key)
    if cached is None or cached[0] != stamps:
        integrations = load_integrations(Path(integrations_path)) if integrations_path else None
        cached = (stamps, load_alerting(Path(path)), integrations)
        with _LOCK:
            _LOADED[key] = cached
    return cached[1], cached[2]


def _modified(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else -1
