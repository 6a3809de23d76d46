"""Probe tests: the sandbox (a real HTTP server with programmable endpoints) and integrations files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitoring_pipeline.integrations.config import IntegrationConfig, IntegrationsFile, load_integrations


def integrations(tmp_path: Path, entries: list[dict[str, Any]], **probing: Any) -> IntegrationsFile:
    """An integrations file written and loaded through the real loader (defaults for quick tests)."""
    path = tmp_path / "integrations.yaml"
    defaults = {"category": "test", "interval": "5s", "timeout": "2s", "retries": {"attempts": 0}}
    path.write_text(yaml.safe_dump({"probing": probing, "defaults": defaults, "integrations": entries}))
    return load_integrations(path)


def one(tmp_path: Path, **entry: Any) -> IntegrationConfig:
    return integrations(tmp_path, [{"name": "api", **entry}]).integrations[0]
