"""E-mail a rendered report through the alerting e-mail channel: multipart/alternative (a plain-text summary and
the HTML) with the charts as inline images (multipart/related, ``cid:``).

The channel is the alerting file's receiver named by ``reports.email_receiver`` (its first e-mail channel: server,
security, login, sender), or one built from ``reports.smtp``; either way the same SMTP code as alert e-mails sends
it, to the report's own recipients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from monitoring_pipeline.alerting.channels.email import EmailChannel, EmailConfig
from monitoring_pipeline.alerting.receivers import ReceiverConfig
from monitoring_pipeline.ops.config import ReportsConfig, SmtpConfig
from monitoring_pipeline.reports.figures import ReportFigures
from monitoring_pipeline.reports.render import RenderedReport

_MAX_TIMEOUT = 60.0  # the e-mail channel's limit for one attempt


class ReportMailError(RuntimeError):
    """The report could not be sent; the message names the server and the reason, never a password."""


def build_message(report: RenderedReport, figures: ReportFigures, sender: str, recipients: Sequence[str]
                  ) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = report.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    lines = [report.title, figures.period.label + " (UTC)", ""]
    lines += [f"- {problem}" for problem in figures.problems] or ["Every integration met its SLA; nothing broke."]
    lines += ["", f"D&B notifications: {figures.notifications:,}; quarantined: {figures.quarantined}",
              f"Integrations below SLA: {len(figures.missed_sla)} of {len(figures.integrations)}; "
              f"outages: {len(figures.outages)}; failovers: {len(figures.failovers)}"]
    if figures.alerts_available:
        stats = figures.alert_stats
        lines.append(f"Alerts fired: {stats.fired}; acknowledged: {stats.acknowledged}; resolved: {stats.resolved}")
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(report.email_html, subtype="html")
    html_part = message.get_payload()[1]
    for name, png in report.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}>",
                              filename=f"{report.kind}_{name}.png", disposition="inline")
    return message


def smtp_channel(smtp: SmtpConfig) -> EmailChannel:
    """The alerting e-mail channel for the ops file's ``reports.smtp`` server."""
    return EmailConfig.model_validate({
        "type": "email", "host": smtp.host, "port": smtp.port, "security": smtp.security,
        "username": smtp.username, "password_env": smtp.password_env, "from": smtp.sender, "to": [smtp.sender],
        "ca_file": smtp.ca_file, "timeout_seconds": min(smtp.timeout, _MAX_TIMEOUT),
    }).build()


def report_channel(reports: ReportsConfig, receivers: Mapping[str, ReceiverConfig]) -> EmailChannel | None:
    """The channel reports go through (None: none configured); ``ReportMailError`` when ``email_receiver`` names
    a receiver that is missing or has no e-mail channel."""
    if reports.email_receiver is not None:
        receiver = receivers.get(reports.email_receiver)
        if receiver is None:
            raise ReportMailError(f"reports.email_receiver: no receiver {reports.email_receiver!r} in the alerting "
                                  f"file (it has {', '.join(sorted(receivers)) or 'none'})")
        channel = next((c for c in receiver.channels if isinstance(c, EmailConfig)), None)
        if channel is None:
            raise ReportMailError(f"reports.email_receiver: receiver {receiver.name!r} has no e-mail channel")
        return channel.build()
    return smtp_channel(reports.smtp) if reports.smtp is not None else None


def send(message: EmailMessage, channel: EmailChannel, recipients: Sequence[str]) -> None:
    """Deliver to ``recipients``; ``ReportMailError`` when the server refuses or cannot be reached."""
    result = channel.deliver_message(message, recipients)
    if result.outcome != "delivered":
        config = channel.config
        raise ReportMailError(f"SMTP {config.host}:{config.smtp_port}: {result.detail}")
