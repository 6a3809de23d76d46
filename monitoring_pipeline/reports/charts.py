"""The report's charts as PNG bytes (matplotlib, Agg backend: offline, no browser). The same figures give the same
bytes, so a re-rendered past day is identical."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from monitoring_pipeline.reports.figures import IntegrationLine  # noqa: E402

_STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
          "axes.edgecolor": "#9ca3af", "axes.labelcolor": "#374151", "xtick.color": "#4b5563",
          "ytick.color": "#4b5563", "svg.hashsalt": "report"}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _empty(figure: Figure, axes: Axes, message: str) -> bytes:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="#6b7280")
    axes.set_axis_off()
    return _png(figure)


def notifications_trend(trend: Sequence[tuple[date, int]], period_start: date) -> bytes:
    """Notifications per day: the period's days highlighted against the days before it."""
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7.2, 2.4))
        labels = [day.strftime("%d %b") for day, _ in trend]
        colours = ["#2563eb" if day >= period_start else "#bfdbfe" for day, _ in trend]
        axes.bar(range(len(trend)), [count for _, count in trend], color=colours, width=0.75)
        axes.set_xticks(range(len(trend)), labels, rotation=45, ha="right")
        axes.set_ylabel("notifications")
        axes.grid(axis="y", color="#eef0f4")
        axes.set_axisbelow(True)
        return _png(figure)


def availability_against_sla(lines: Sequence[IntegrationLine], limit: int = 15) -> bytes:
    """The least available integrations' availability (bars) and their SLA (ticks)."""
    shown = [line for line in lines if line.availability is not None][:limit]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7.2, 0.32 * max(len(shown), 3) + 0.8))
        if not shown:
            return _empty(figure, axes, "no availability figures for this period")
        names = [line.name for line in shown][::-1]
        values = [line.availability * 100 for line in shown][::-1]  # type: ignore[operator]
        slas = [line.sla for line in shown][::-1]
        colours = ["#16a34a" if value >= sla else "#dc2626" for value, sla in zip(values, slas, strict=True)]
        low = min(min(values), min(slas)) - 0.5
        axes.barh(names, [value - low for value in values], left=low, color=colours, height=0.6)
        axes.scatter(slas, names, marker="|", s=160, color="#111827", label="SLA", zorder=3)
        axes.set_xlim(low, 100.05)
        axes.set_xlabel("availability %")
        axes.legend(loc="lower left", frameon=False)
        return _png(figure)


def latency_p95(lines: Sequence[IntegrationLine], limit: int = 12) -> bytes:
    """The slowest integrations' worst daily p95 latency in the period."""
    shown = sorted((line for line in lines if line.latency_p95_ms is not None),
                   key=lambda line: (-(line.latency_p95_ms or 0.0), line.name))[:limit]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(7.2, 0.32 * max(len(shown), 3) + 0.8))
        if not shown:
            return _empty(figure, axes, "no latency figures for this period")
        axes.barh([line.name for line in shown][::-1], [line.latency_p95_ms for line in shown][::-1],
                  color="#7c3aed", height=0.6)
        axes.set_xlabel("p95 latency (ms)")
        axes.grid(axis="x", color="#eef0f4")
        axes.set_axisbelow(True)
        return _png(figure)
