"""The reports resource: where reports go and who gets them (the ops file's ``reports:`` section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.config import OpsConfig, load_ops_config
from monitoring_pipeline.reports.figures import Period, ReportFigures, gather
from monitoring_pipeline.reports.mail import ReportMailError, build_message, send
from monitoring_pipeline.reports.render import render, report_dir, store


@dataclass(frozen=True)
class ReportOutcome:
    figures: ReportFigures
    path: Path
    recipients: tuple[str, ...]
    mail_error: str | None


class ReportsResource(dg.ConfigurableResource):
    """Renders, stores and e-mails reports."""

    reports_dir: str = Field(description="Reports are stored under <reports_dir>/YYYY/MM/DD/.")
    ops_config_file: str | None = Field(default=None, description="The ops file (OPS_CONFIG): recipients, SMTP.")
    integrations_file: str = Field(description="The integrations file (INTEGRATIONS_CONFIG).")
    rate_limit_per_second: float = Field(default=5.0, description="D&B calls per second: the report's rate budget.")

    def config(self) -> OpsConfig:
        return load_ops_config(Path(self.ops_config_file) if self.ops_config_file else None)

    def produce(self, engine: Engine, period: Period, send_mail: bool = True) -> ReportOutcome:
        config = self.config().reports
        integrations = load_integrations(Path(self.integrations_file)).integrations
        figures = gather(engine, period, integrations, self.rate_limit_per_second, noisy_rules=config.noisy_rules)
        ops = self.config().service
        report = render(figures, config.subject_prefix, ops.public_url)
        path = store(report, report_dir(Path(self.reports_dir), figures))
        recipients = tuple(config.weekly_recipients if period.kind == "weekly" and config.weekly_recipients
                           is not None else config.recipients)
        mail_error = None
        if not send_mail:
            mail_error = "not asked to"
        elif recipients and config.smtp is not None:
            try:
                send(build_message(report, figures, config.smtp.sender, recipients), config.smtp)
            except ReportMailError as error:
                mail_error = str(error)
        elif recipients:
            mail_error = "no smtp server in the ops file's reports section"
        return ReportOutcome(figures, path, recipients, mail_error)
