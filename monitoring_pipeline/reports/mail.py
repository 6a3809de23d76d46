"""E-mail a rendered report: multipart/alternative (a plain-text summary and the HTML) with the charts as inline
images (multipart/related, ``cid:``), sent with smtplib over STARTTLS or TLS.

A small function on purpose: when the alerting e-mail channel lands, the report can be sent through it instead.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from monitoring_pipeline.ops.config import SmtpConfig
from monitoring_pipeline.reports.figures import ReportFigures
from monitoring_pipeline.reports.render import RenderedReport
from monitoring_pipeline.settings import read_secret


class ReportMailError(RuntimeError):
    """The report could not be sent; the message names the server and the reason, never a password."""


def build_message(report: RenderedReport, figures: ReportFigures, sender: str, recipients: Sequence[str]
                  ) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = report.title
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    lines = [report.title, figures.period.label + " (UTC)", ""]
    lines += [f"- {problem}" for problem in figures.problems] or ["Every integration met its SLA; nothing broke."]
    lines += ["", f"D&B notifications: {figures.notifications:,}; quarantined: {figures.quarantined}",
              f"Integrations below SLA: {len(figures.missed_sla)} of {len(figures.integrations)}; "
              f"outages: {len(figures.outages)}; failovers: {len(figures.failovers)}"]
    message.set_content("\n".join(lines) + "\n")
    message.add_alternative(report.email_html, subtype="html")
    html_part = message.get_payload()[1]
    for name, png in report.charts.items():
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{name}>",
                              filename=f"{report.kind}_{name}.png", disposition="inline")
    return message


def send(message: EmailMessage, smtp: SmtpConfig) -> None:
    """Deliver through ``smtp``; ``ReportMailError`` when the server refuses or cannot be reached."""
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    try:
        if smtp.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.username:
                password = read_secret(smtp.password_env) if smtp.password_env else None
                if password is None:
                    raise ReportMailError(f"SMTP {smtp.host}:{smtp.port}: {smtp.password_env or 'password_env'} "
                                          "is not set")
                client.login(smtp.username, password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise ReportMailError(f"SMTP {smtp.host}:{smtp.port}: {type(error).__name__}: "
                              f"{str(error)[:200]}") from None
