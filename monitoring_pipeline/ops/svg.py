"""Small inline SVG charts for the ops pages (drawn on the server: no script, nothing to download)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

COLOURS = ("#2563eb", "#d97706", "#059669", "#dc2626")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(times: Sequence[datetime], series: dict[str, Sequence[float | None]], *, unit: str,
               width: int = 720, height: int = 220, title: str = "") -> str:
    """Lines over time (gaps where a value is None), with a y axis in ``unit`` and the first and last time."""
    left, right, top, bottom = 52, 12, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for line in series.values() for v in line if v is not None]
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg">']
    if not times or not values:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty">'
                     f'no data in this period</text></svg>')
        return "".join(parts)
    y_max = _nice_max(max(values))
    t0, t1 = times[0].timestamp(), times[-1].timestamp()
    span = max(t1 - t0, 1.0)

    def x(moment: datetime) -> float:
        return left + (moment.timestamp() - t0) / span * plot_w

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        level = y_max * fraction
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(level):.1f}" y2="{y(level):.1f}" '
                     f'class="grid"/><text x="{left - 6}" y="{y(level) + 4:.1f}" text-anchor="end" class="axis">'
                     f'{level:g}{escape(unit)}</text>')
    parts.append(f'<text x="{left}" y="{height - 8}" class="axis">{times[0]:%d %b %H:%M}</text>'
                 f'<text x="{width - right}" y="{height - 8}" text-anchor="end" class="axis">'
                 f'{times[-1]:%d %b %H:%M} UTC</text>')
    for index, (name, line) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        path, pen_down = [], False
        for moment, value in zip(times, line, strict=True):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(moment):.1f},{y(value):.1f}")
            pen_down = True
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        parts.append(f'<rect x="{left + 8 + index * 90}" y="{top}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + 22 + index * 90}" y="{top + 9}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def day_bars(days: Sequence[tuple[str, float | None, str]], *, width: int = 720, height: int = 120) -> str:
    """One bar per day, its height the availability (axis from 90 % to 100 %), coloured by code (g/y/r/m/n)."""
    left, bottom, top = 40, 20, 8
    plot_h = height - bottom - top
    count = max(len(days), 1)
    slot = (width - left) / count
    parts = [f'<svg class="chart" role="img" aria-label="daily availability" viewBox="0 0 {width} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" class="axis">100%</text>'
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="axis">90%</text>']
    for index, (label, availability, code) in enumerate(days):
        share = 0.0 if availability is None else max(min((availability * 100 - 90) / 10, 1.0), 0.03)
        bar_h = plot_h if availability is None else plot_h * share
        shown = "no data" if availability is None else f"{availability * 100:.3f}%"
        parts.append(f'<rect class="bar-{code}" x="{left + index * slot + 1:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{max(slot - 2, 1):.1f}" height="{bar_h:.1f}" rx="1.5"><title>{escape(label)}: '
                     f'{shown}</title></rect>')
    if days:
        parts.append(f'<text x="{left}" y="{height - 4}" class="axis">{escape(days[0][0])}</text>'
                     f'<text x="{width}" y="{height - 4}" text-anchor="end" class="axis">{escape(days[-1][0])}</text>')
    parts.append("</svg>")
    return "".join(parts)
