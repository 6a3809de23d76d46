"""A report rendered from the database, opened in chromium, re-rendered identically, and received by a real SMTP
server (aiosmtpd with STARTTLS)."""

from __future__ import annotations

import email
import email.policy
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitoring_pipeline.fakes.tls import write_self_signed_certificate
from monitoring_pipeline.httpserver import free_port
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.config import SmtpConfig
from monitoring_pipeline.reports.figures import daily, gather
from monitoring_pipeline.reports.mail import build_message, send
from monitoring_pipeline.reports.render import render, report_dir, store
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


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_the_report_email_is_received_with_its_parts(report_figures, tmp_path):
    figures = report_figures(datetime.now(UTC).date() - timedelta(days=1))
    report = render(figures, "[monitoring]")
    cert, key = write_self_signed_certificate(tmp_path, not_after=datetime.now(UTC) + timedelta(days=1), stem="smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=port, security="starttls", sender="reports@example.com",
                          ca_file=cert)
        send(build_message(report, figures, smtp.sender, ["ops@example.com", "cfo@example.com"]), smtp)
    finally:
        controller.stop()
    [(sender, recipients, raw)] = inbox.messages
    assert (sender, recipients) == ("reports@example.com", ["ops@example.com", "cfo@example.com"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "[monitoring] Daily report: All well"
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain" and "Every integration met its SLA" in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    cids = sorted(i["Content-ID"] for i in images)
    assert cids == ["<availability>", "<latency>", "<notifications_trend>"]
    for image in images:
        assert image.get_content_type() == "image/png" and image.get_content().startswith(b"\x89PNG")
        assert f'src="cid:{image["Content-ID"][1:-1]}"' in html.get_content()
