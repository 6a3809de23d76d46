"""A report rendered from the database, opened in chromium, re-rendered identically, and received by a real SMTP
server (aiosmtpd with STARTTLS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitoring_pipeline.alerting.config import parse_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.fakes.inbox import MailServer
from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.config import OpsConfig, OpsConfigError, SmtpConfig, load_ops_config
from monitoring_pipeline.reports.figures import daily, gather
from monitoring_pipeline.reports.mail import build_message, send, smtp_channel
from monitoring_pipeline.reports.produce import produce_report
from monitoring_pipeline.reports.render import render, report_dir, store
from monitoring_pipeline_tests.alerting.delivery_fixtures import receiver
from monitoring_pipeline_tests.ops.browser import chromium_page
from monitoring_pipeline_tests.ops.seed import integrations_file, seed


@pytest.fixture
def report_figures(sqlite_engine, tmp_path: Path):
    names = integrations_file(tmp_path / "integrations.yaml", 12)
    now = datetime.now(UTC)
    seed(sqlite_engine, names, now)
    integrations = load_integrations(tmp_path / "integrations.yaml").integrations
    return lambda day: gather(sqlite_engine, daily(day), integrations, 5.0)


def test_a_day_renders_identically_twice_and_opens_with_its_charts(report_figures, tmp_path):
    today = datetime.now(UTC).date()
    figures = report_figures(today)
    first = store(render(figures, "[monitoring]"), report_dir(tmp_path / "reports", figures))
    first_bytes = {p.name: p.read_bytes() for p in first.parent.iterdir()}
    again = store(render(report_figures(today), "[monitoring]"), report_dir(tmp_path / "reports", figures))
    assert again == first and {p.name: p.read_bytes() for p in first.parent.iterdir()} == first_bytes
    assert first == tmp_path / "reports" / f"{today:%Y/%m/%d}" / "daily_report.html"
    assert figures.headline == "Needs attention" and any("quarantined" in p for p in figures.problems)
    html = first.read_text()
    assert "<style" not in html and 'style="' in html  # CSS inlined for mail clients
    with chromium_page() as (page, errors):
        page.goto(first.as_uri())
        sizes = page.evaluate("Array.from(document.images).map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == 3 and all(width > 200 and height > 100 for _alt, width, height in sizes)
        assert "Needs attention" in page.locator(".headline").inner_text()
        assert "300" in page.locator("#dnb").inner_text()
        assert errors == []


def _parts(message):
    """(plain text, html, images) of a report e-mail, checking its structure on the way."""
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert sorted(i["Content-ID"] for i in images) == ["<availability>", "<latency>", "<notifications_trend>"]
    for image in images:
        assert image.get_content_type() == "image/png" and image.get_content().startswith(b"\x89PNG")
        assert image.get_content_disposition() == "inline"
        assert f'src="cid:{image["Content-ID"][1:-1]}"' in html.get_content()
    return plain.get_content(), html.get_content(), images


def test_the_report_goes_through_the_smtp_server_of_its_own(report_figures, tmp_path):
    figures = report_figures(datetime.now(UTC).date() - timedelta(days=1))
    report = render(figures, "[monitoring]")
    cert, key = write_self_signed_certificate(tmp_path, not_after=datetime.now(UTC) + timedelta(days=1), stem="smtp")
    with MailServer(security="starttls", tls_cert=cert, tls_key=key) as server:
        smtp = SmtpConfig(host="127.0.0.1", port=server.port, security="starttls", sender="reports@example.com",
                          ca_file=cert)
        send(build_message(report, figures, smtp.sender, ["ops@example.com", "cfo@example.com"]), smtp_channel(smtp),
             ["ops@example.com", "cfo@example.com"])
        [mail] = server.mails
    assert (mail.mail_from, mail.rcpt_tos, mail.tls) == ("reports@example.com", ("ops@example.com",
                                                                                "cfo@example.com"), True)
    message = mail.message
    assert message["Subject"] == "[monitoring] Daily report: All well"
    plain, _html, _images = _parts(message)
    assert "Every integration met its SLA" in plain


def test_the_report_is_mailed_through_the_alerting_receivers_email_channel(sqlite_engine, tmp_path, monkeypatch):
    names = integrations_file(tmp_path / "integrations.yaml", 12)
    seed(sqlite_engine, names, datetime.now(UTC))
    integrations = load_integrations(tmp_path / "integrations.yaml")
    AlertEngine(sqlite_engine, parse_alerting(tmp_path / "alerting.yaml", {}), integrations).evaluate()
    cert, key = write_self_signed_certificate(tmp_path, not_after=datetime.now(UTC) + timedelta(days=1), stem="smtp")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-secret-for-reports")
    with MailServer(security="starttls", tls_cert=cert, tls_key=key,
                    users={"alerts": "smtp-secret-for-reports"}) as server:
        receivers = {"oncall": receiver("oncall", {
            "type": "email", "host": "127.0.0.1", "port": server.port, "security": "starttls", "username": "alerts",
            "password_env": "SMTP_PASSWORD", "from": "Monitoring <alerts@example.com>", "to": ["oncall@example.com"],
            "ca_file": str(cert)})}
        config = OpsConfig.model_validate({"reports": {"recipients": ["cfo@example.com"], "email_receiver": "oncall"}})
        outcome = produce_report(sqlite_engine, daily(datetime.now(UTC).date()), config, integrations.integrations,
                                 tmp_path / "reports", 5.0, receivers=receivers)
        assert outcome.mail_error is None
        [mail] = server.mails
        missing = produce_report(sqlite_engine, daily(datetime.now(UTC).date()), OpsConfig.model_validate(
            {"reports": {"recipients": ["cfo@example.com"], "email_receiver": "nobody"}}), integrations.integrations,
            tmp_path / "reports", 5.0, receivers=receivers)
        assert missing.mail_error == "reports.email_receiver: no receiver 'nobody' in the alerting file (it has oncall)"
        assert len(server.mails) == 1
    # The alert e-mail's server, login and sender; the report's own recipients.
    assert (mail.mail_from, mail.rcpt_tos, mail.login, mail.tls) == ("alerts@example.com", ("cfo@example.com",),
                                                                     "alerts", True)
    message = mail.message
    assert message["From"] == "Monitoring <alerts@example.com>" and message["Subject"].startswith("[monitoring] Daily")
    plain, html, _images = _parts(message)
    assert outcome.figures.alert_stats.fired >= 1
    assert f"Alerts fired: {outcome.figures.alert_stats.fired}" in plain
    assert "Noisiest rules" in html and outcome.figures.noisy_rules[0].rule in html
    assert "smtp-secret-for-reports" not in mail.data.decode(errors="replace")


def test_reports_name_one_way_to_send(tmp_path):
    path = tmp_path / "ops.yaml"
    path.write_text("reports:\n  email_receiver: oncall\n  smtp: {host: smtp.example.com, sender: r@example.com}\n")
    with pytest.raises(OpsConfigError, match="reports.email_receiver.*either email_receiver"):
        load_ops_config(path)
