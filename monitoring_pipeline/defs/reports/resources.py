"""The reports resource: where reports go and who gets them (the ops file's ``reports:`` section)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from monitoring_pipeline.alerting.receivers import load_receivers
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.config import load_ops_config
from monitoring_pipeline.reports.figures import Period
from monitoring_pipeline.reports.produce import ReportOutcome, produce_report


class ReportsResource(dg.ConfigurableResource):
    """Renders, stores and e-mails reports."""

    reports_dir: str = Field(description="Reports are stored under <reports_dir>/YYYY/MM/DD/.")
    ops_config_file: str | None = Field(default=None, description="The ops file (OPS_CONFIG): recipients, SMTP.")
    integrations_file: str = Field(description="The integrations file (INTEGRATIONS_CONFIG).")
    alerting_file: str | None = Field(default=None, description="The alerting file (ALERTING_CONFIG): the receiver "
                                      "whose e-mail channel sends reports (reports.email_receiver).")
    rate_limit_per_second: float = Field(default=5.0, description="D&B calls per second: the report's rate budget.")

    def produce(self, engine: Engine, period: Period) -> ReportOutcome:
        config = load_ops_config(Path(self.ops_config_file) if self.ops_config_file else None)
        integrations = load_integrations(Path(self.integrations_file)).integrations
        receivers = load_receivers(Path(self.alerting_file)) if self.alerting_file else {}
        return produce_report(engine, period, config, integrations, Path(self.reports_dir),
                              self.rate_limit_per_second, receivers=receivers)
