"""The alerting file and the engine built from it, as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from monitoring_pipeline.alerting.config import AlertingConfig
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.alerting.files import load_alerting_files
from monitoring_pipeline.integrations.config import IntegrationsFile
from monitoring_pipeline.ops.ack_links import notification_links
from monitoring_pipeline.ops.config import load_ops_config


class AlertingResource(dg.ConfigurableResource):
    """The alerting file (ALERTING_CONFIG: rules, routes, escalation, receivers), the integrations file whose
    categories, SLAs, dependencies and maintenance windows alerts use, and the ops file (OPS_CONFIG) whose public
    address and signing key put "View alert" and one-click "Acknowledge" links in notifications."""

    path: str = Field(description="Path of the alerting YAML file (absent: the default rules, no receivers).")
    integrations_path: str | None = Field(default=None, description="Path of the integrations YAML file.")
    ops_config_path: str | None = Field(default=None, description="Path of the ops YAML file (links in messages).")
    dnb_rate_limit_per_second: float = Field(default=5.0, description="D&B calls per second (rate-budget rule).")

    def load(self) -> tuple[AlertingConfig, IntegrationsFile | None]:
        """Both files as validated; parsed again only when one of them changes."""
        return load_alerting_files(Path(self.path), Path(self.integrations_path) if self.integrations_path else None)

    def engine(self, database: Engine) -> AlertEngine:
        config, integrations = self.load()
        ops = load_ops_config(Path(self.ops_config_path) if self.ops_config_path else None)
        return AlertEngine(database, config, integrations, dnb_rate_limit_per_second=self.dnb_rate_limit_per_second,
                           links=notification_links(ops))
