"""The alerting file and the engine built from it, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from monitoring_pipeline.alerting.config import AlertingConfig, load_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.integrations.config import IntegrationsFile, load_integrations

# Each tick builds its resources afresh: the parsed files are kept per path for the process, parsed again on change.
_LOADED: dict[str, tuple[tuple[int, int], AlertingConfig, IntegrationsFile | None]] = {}


class AlertingResource(dg.ConfigurableResource):
    """The alerting file (ALERTING_CONFIG: rules, routes, escalation, receivers) and the integrations file whose
    categories, SLAs, dependencies and maintenance windows alerts use."""

    path: str = Field(description="Path of the alerting YAML file (absent: the default rules, no receivers).")
    integrations_path: str | None = Field(default=None, description="Path of the integrations YAML file.")
    dnb_rate_limit_per_second: float = Field(default=5.0, description="D&B calls per second (rate-budget rule).")

    def load(self) -> tuple[AlertingConfig, IntegrationsFile | None]:
        """Both files as validated; parsed again only when one of them changes."""
        stamps = (_modified(Path(self.path)), _modified(Path(self.integrations_path)) if self.integrations_path else 0)
        key = f"{self.path}\x00{self.integrations_path}"
        cached = _LOADED.get(key)
        if cached is None or cached[0] != stamps:
            integrations = load_integrations(Path(self.integrations_path)) if self.integrations_path else None
            cached = _LOADED[key] = (stamps, load_alerting(Path(self.path)), integrations)
        return cached[1], cached[2]

    def engine(self, database: Engine) -> AlertEngine:
        config, integrations = self.load()
        return AlertEngine(database, config, integrations, dnb_rate_limit_per_second=self.dnb_rate_limit_per_second)


def _modified(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else -1
