"""Thresholds and anomalies over our own numbers: integration error rate and latency, D&B rate-budget use,
quarantined notifications, notification volume per registration.

Polled: each rule is evaluated every ``evaluate_every`` (its figures are aggregates the database computes), and
each evaluation covers every label set, so an alert whose figure went back to normal resolves.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Integer, case, func, select

from monitoring_pipeline.alerting.anomaly import baseline, is_anomalous, robust_score
from monitoring_pipeline.alerting.config import AnomalyRule, RuleConfig, ThresholdRule
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.integrations.sla import percentile
from monitoring_pipeline.storage.schema import (
    dnb_landed_notifications,
    dnb_quarantine,
    integration_call_counts,
    integration_health_days,
    integration_probe_results,
)

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
DNB_CALLS = "dnb"  # integration_call_counts' name for our own D&B calls

# (labels, value, samples) per label set
Figures = list[tuple[dict[str, str], float, int]]


class ThresholdSource:
    name = "threshold"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        result = Collected()
        for rule in rules:
            assert isinstance(rule, ThresholdRule)
            if not context.polled_due(rule, rule.evaluate_every):
                continue
            result.complete.add(rule.name)
            compare = _OPERATORS[rule.op]
            for labels, value, samples in METRICS[rule.metric](context, timedelta(seconds=rule.window)):
                if not selected(rule, labels):
                    continue
                active = samples >= rule.min_samples and compare(value, rule.threshold)
                details = {"metric": rule.metric, "window": rule.window, "op": rule.op, "threshold": rule.threshold,
                           "samples": samples}
                result.observations.append(Observation(rule.name, labels, active, context.now, value=value,
                                                       details=details))
        return result


def integration_error_rate(context: SourceContext, window: timedelta) -> Figures:
    table = integration_probe_results.c
    query = (select(table.integration, func.count(),
                    func.sum(case((table.outcome == "failed", 1), else_=0), type_=Integer))
             .where(table.probed_at >= context.now - window, table.probed_at <= context.now,
                    table.outcome != "skipped", table.state != "MAINTENANCE")
             .group_by(table.integration))
    return [(context.integration_labels(name), (failed or 0) / probes, probes)
            for name, probes, failed in context.connection.execute(query) if probes]


def integration_latency_p95(context: SourceContext, window: timedelta) -> Figures:
    table = integration_probe_results.c
    latencies: dict[str, list[float]] = defaultdict(list)
    query = (select(table.integration, table.latency_ms)
             .where(table.probed_at >= context.now - window, table.probed_at <= context.now,
                    table.outcome.in_(("up", "degraded")), table.state != "MAINTENANCE",
                    table.latency_ms.is_not(None)))
    for name, latency in context.connection.execute(query):
        latencies[name].append(latency)
    return [(context.integration_labels(name), percentile(values, 95) or 0.0, len(values))
            for name, values in latencies.items() if _measures_latency(context, name)]


def _measures_latency(context: SourceContext, integration: str) -> bool:
    info = context.integrations.get(integration)
    return info is None or info.measures_latency


def dnb_rate_budget_use(context: SourceContext, window: timedelta) -> Figures:
    """Our D&B calls of the current UTC day over what the rate limit allows since midnight (the call counter is
    daily, so the window is the day so far)."""
    today = context.now.astimezone(UTC).date()
    calls = context.connection.execute(
        select(integration_call_counts.c.calls).where(integration_call_counts.c.day == today,
                                                      integration_call_counts.c.integration == DNB_CALLS)
    ).scalar_one_or_none() or 0
    elapsed = (context.now - datetime.combine(today, datetime.min.time(), UTC)).total_seconds()
    allowed = max(context.dnb_rate_limit_per_second * max(elapsed, 60.0), 1.0)
    return [({}, calls / allowed, int(calls))]


def dnb_quarantine_count(context: SourceContext, window: timedelta) -> Figures:
    table = dnb_quarantine.c
    start = context.now - window
    query = (select(table.reference, func.count()).where(table.delivery_day >= start.date(), table.landed_at >= start)
             .group_by(table.reference))
    return [({"reference": reference}, float(count), count) for reference, count in context.connection.execute(query)]


def dnb_notification_volume(context: SourceContext, window: timedelta) -> Figures:
    table = dnb_landed_notifications.c
    start = context.now - window
    query = (select(table.reference, func.count())
             .where(table.delivery_day >= start.date(), table.delivery_ts >= start).group_by(table.reference))
    return [({"reference": reference}, float(count), count) for reference, count in context.connection.execute(query)]


METRICS: dict[str, Callable[[SourceContext, timedelta], Figures]] = {
    "integration_error_rate": integration_error_rate,
    "integration_latency_p95_ms": integration_latency_p95,
    "dnb_rate_budget_use": dnb_rate_budget_use,
    "dnb_quarantine_count": dnb_quarantine_count,
    "dnb_notification_volume": dnb_notification_volume,
}


class AnomalySource:
    """The last complete UTC day against the days before it."""

    name = "anomaly"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        result = Collected()
        day = context.now.astimezone(UTC).date() - timedelta(days=1)
        for rule in rules:
            assert isinstance(rule, AnomalyRule)
            if not context.polled_due(rule, rule.evaluate_every):
                continue
            result.complete.add(rule.name)
            series = DAILY_SERIES[rule.metric](context, day - timedelta(days=rule.history_days), day)
            for labels, values in series:
                if not selected(rule, labels) or day not in values:
                    continue
                history = baseline(values, day, history_days=rule.history_days, by_weekday=rule.baseline == "weekday")
                score = robust_score(values[day], history)
                if score is None:
                    continue
                active = score.history >= rule.min_history and is_anomalous(score, rule.threshold, rule.direction)
                details = {"metric": rule.metric, "day": day.isoformat(), "median": score.median, "mad": score.mad,
                           "robust_z": score.robust_z if abs(score.robust_z) != float("inf") else 1e9,
                           "history": score.history}
                result.observations.append(Observation(rule.name, labels, active, context.now, value=values[day],
                                                       details=details))
        return result


DailySeries = list[tuple[dict[str, str], dict[date, float]]]


def daily_notification_volume(context: SourceContext, start: date, end: date) -> DailySeries:
    """Notifications landed per registration and delivery day in [start, end]; a registration's days without any
    (after its first) count as 0."""
    table = dnb_landed_notifications.c
    counts: dict[str, dict[date, float]] = defaultdict(dict)
    for reference, day, count in context.connection.execute(
            select(table.reference, table.delivery_day, func.count())
            .where(table.delivery_day >= start, table.delivery_day <= end)
            .group_by(table.reference, table.delivery_day)):
        counts[reference][day] = float(count)
    series = []
    for reference, values in counts.items():
        first = min(values)
        filled = {date.fromordinal(n): values.get(date.fromordinal(n), 0.0)
                  for n in range(first.toordinal(), end.toordinal() + 1)}
        series.append(({"reference": reference}, filled))
    return series


def daily_latency_p95(context: SourceContext, start: date, end: date) -> DailySeries:
    table = integration_health_days.c
    values: dict[str, dict[date, float]] = defaultdict(dict)
    for name, day, p95 in context.connection.execute(
            select(table.integration, table.day, table.latency_p95_ms)
            .where(table.day >= start, table.day <= end, table.latency_p95_ms.is_not(None))):
        values[name][day] = float(p95)
    return [(context.integration_labels(name), days) for name, days in values.items()
            if _measures_latency(context, name)]


DAILY_SERIES: dict[str, Callable[[SourceContext, date, date], DailySeries]] = {
    "dnb_notification_volume": daily_notification_volume,
    "integration_latency_p95_ms": daily_latency_p95,
}
