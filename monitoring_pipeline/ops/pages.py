"""The ops service's HTML pages: Jinja2 templates (autoescaped) with a few filters for times and figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.ops.snapshot import StatusSnapshot
from monitoring_pipeline.ops.svg import day_bars, line_chart
from monitoring_pipeline.service_status import _duration as status_duration


def duration(seconds: float | None) -> str:
    """``42s``, ``7m``, ``3h 5m``, ``2d 4h`` (as `monitoring-pipeline status` writes them)."""
    return "—" if seconds is None else status_duration(seconds)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    return f"{duration(((now or datetime.now(UTC)) - moment).total_seconds())} ago"


def pct(share: float | None, digits: int = 2) -> str:
    return "—" if share is None else f"{share * 100:.{digits}f}%"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def when(moment: datetime | None, style: str = "ago") -> Markup:
    """A ``<time>`` the page's script shows as "5m ago" (``ago``) or "5m" (``for``); the text is the absolute UTC
    time until then, so the HTML depends on the data only."""
    if moment is None:
        return Markup("never")
    return Markup('<time datetime="{}" data-rel="{}">{}</time>').format(
        moment.isoformat(timespec="seconds"), style, moment.strftime("%d %b %H:%M UTC"))


def when_iso(text: str | None, style: str = "ago") -> Markup:
    return when(datetime.fromisoformat(text) if text else None, style)


def environment(package: str) -> Environment:
    """A Jinja2 environment over ``package``'s templates folder, autoescaping HTML, with the filters above."""
    env = Environment(loader=PackageLoader(package, "templates"), autoescape=select_autoescape(("html",)),
                      extensions=["jinja2.ext.do"],
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(duration=duration, ago=ago, pct=pct, ms=ms)
    env.globals.update(when=when, when_iso=when_iso)
    return env


class Pages:
    def __init__(self, config: OpsConfig) -> None:
        self.env = environment("monitoring_pipeline.ops")
        self.title = config.service.title
        self._main: tuple[str, str] | None = None  # (snapshot version, rendered main part)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(title=self.title, **context)

    def status(self, snapshot: StatusSnapshot, partial: bool = False) -> str:
        """The status page (or its main part, which the page fetches when the event stream says it changed). The
        main part is rendered once per snapshot version: it holds no clock time (the page's script writes "5m ago"
        from each ``<time>``), so the same data gives the same HTML."""
        version = snapshot.live()["version"]
        cached = self._main
        if cached is not None and cached[0] == version:
            main = cached[1]
        else:
            main = self.render("_status_main.html", snapshot=snapshot)
            self._main = (version, main)
        if partial:
            return main
        return self.render("status.html", snapshot=snapshot, main=main, version=version)

    def integration(self, detail: Any) -> str:
        """The page of one integration (``api.IntegrationDetail``) with its charts."""
        probes = detail.probes
        latency = line_chart([p[0] for p in probes], {"latency": [p[2] if p[1] != "failed" else None
                                                                  for p in probes]},
                             unit=" ms", title=f"{detail.config.name} latency, last 24 hours")
        hours = detail.hours
        hourly = line_chart([h.hour for h in hours], {"p50": [h.latency_p50_ms for h in hours],
                                                      "p95": [h.latency_p95_ms for h in hours]},
                            unit=" ms", title=f"{detail.config.name} hourly latency")
        first = (detail.end - timedelta(days=89)).date()
        by_day = {d.day: d for d in detail.days}
        days = []
        for offset in range(90):
            day = first + timedelta(days=offset)
            found = by_day.get(day)
            days.append((day.strftime("%d %b"), found.availability if found else None,
                         found.code if found else "n"))
        return self.render("integration.html", d=detail, latency_chart=latency, hourly_chart=hourly,
                           availability_chart=day_bars(days))
