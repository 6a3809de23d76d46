"""Render a report: charts as PNG, HTML from the Jinja2 template with its CSS inlined for mail clients, stored
under ``<reports dir>/YYYY/MM/DD/`` (written to a temporary name, then renamed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import css_inline

from monitoring_pipeline.ops.pages import environment
from monitoring_pipeline.reports import charts
from monitoring_pipeline.reports.figures import ReportFigures
from monitoring_pipeline.storage.local_files import atomic_write_bytes, remove_stale_files


@dataclass(frozen=True)
class RenderedReport:
    kind: str
    title: str
    html: str  # images as "<kind>_<chart>.png" beside the file
    email_html: str  # images as "cid:<chart>"
    charts: dict[str, bytes]  # name -> PNG


def render(figures: ReportFigures, title_prefix: str = "", link: str | None = None) -> RenderedReport:
    period = figures.period
    images = {
        "notifications_trend": charts.notifications_trend(figures.trend, period.start),
        "availability": charts.availability_against_sla(figures.integrations),
        "latency": charts.latency_p95(figures.integrations),
    }
    title = f"{title_prefix} {period.kind.capitalize()} report: {figures.headline}".strip()
    template = environment("monitoring_pipeline.reports").get_template("report.html")

    def html(source: str) -> str:
        rendered = template.render(f=figures, title=title, link=link,
                                   chart=lambda name: source.format(kind=period.kind, name=name))
        return css_inline.inline(rendered)

    return RenderedReport(period.kind, title, html("{kind}_{name}.png"), html("cid:{name}"), images)


def report_dir(reports_dir: Path, figures: ReportFigures) -> Path:
    day = figures.period.start
    return reports_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"


def store(report: RenderedReport, directory: Path) -> Path:
    """Write the HTML and its charts (replacing a previous rendering); returns the HTML file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, png in report.charts.items():
        atomic_write_bytes(directory / f"{report.kind}_{name}.png", png)
    remove_stale_files(directory, {f"{report.kind}_{name}.png" for name in report.charts}, f"{report.kind}_*.png")
    path = directory / f"{report.kind}_report.html"
    atomic_write_bytes(path, report.html.encode("utf-8"))
    return path
