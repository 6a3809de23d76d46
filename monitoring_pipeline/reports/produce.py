"""Make one report end to end: gather, render, store, e-mail (what the assets and `monitoring-pipeline report` do)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from monitoring_pipeline.alerting.receivers import ReceiverConfig
from monitoring_pipeline.integrations.config import IntegrationConfig
from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.reports.figures import Period, ReportFigures, gather
from monitoring_pipeline.reports.mail import ReportMailError, build_message, report_channel, send
from monitoring_pipeline.reports.render import render, report_dir, store


@dataclass(frozen=True)
class ReportOutcome:
    figures: ReportFigures
    path: Path
    recipients: tuple[str, ...]
    mail_error: str | None  # None: e-mailed to every recipient


def produce_report(engine: Engine, period: Period, config: OpsConfig, integrations: Sequence[IntegrationConfig],
                   reports_dir: Path, rate_limit_per_second: float, send_mail: bool = True,
                   receivers: Mapping[str, ReceiverConfig] | None = None) -> ReportOutcome:
    """Render and store the report of ``period``; e-mail it unless ``send_mail`` is false, through the alerting
    e-mail channel (``receivers``: the alerting file's, for ``reports.email_receiver``). A failed e-mail does not
    raise: the report is stored and ``mail_error`` says why it was not sent."""
    reports = config.reports
    figures = gather(engine, period, integrations, rate_limit_per_second, noisy_rules=reports.noisy_rules)
    report = render(figures, reports.subject_prefix, config.service.public_url)
    path = store(report, report_dir(reports_dir, figures))
    weekly = period.kind == "weekly" and reports.weekly_recipients is not None
    recipients = tuple(reports.weekly_recipients if weekly else reports.recipients)  # type: ignore[arg-type]
    mail_error = None
    if not send_mail:
        mail_error = "not asked to"
    elif not recipients:
        mail_error = "no recipients in the ops file's reports section"
    else:
        try:
            channel = report_channel(reports, receivers or {})
            if channel is None:
                mail_error = "no email_receiver or smtp server in the ops file's reports section"
            else:
                send(build_message(report, figures, channel.config.from_, recipients), channel, recipients)
        except ReportMailError as error:
            mail_error = str(error)
    return ReportOutcome(figures, path, recipients, mail_error)
