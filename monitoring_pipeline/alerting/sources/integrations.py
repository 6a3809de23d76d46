"""Integration health as alert sources: state changes, failovers, and the SLA burn rate over probe history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Integer, case, func, select

from monitoring_pipeline.alerting.config import IntegrationStateRule, RuleConfig, SlaBurnRateRule
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.storage.schema import (
    integration_failover_events,
    integration_probe_results,
    integration_state_changes,
    integration_states,
)

# Event sources start this far back on their first evaluation: recent events alert, old history does not.
FIRST_LOOKBACK = timedelta(hours=1)
_CHANGES_PER_TICK = 20_000


class IntegrationStateSource:
    """Each integration's current state; after the first evaluation only integrations whose state changed since
    (integration_state_changes past the watermark) are read again."""

    name = "integration_state"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        connection = context.connection
        changes = integration_state_changes.c
        watermark = context.cursors.get("integration_state_changes")
        result = Collected()
        if watermark is None:
            names = None  # first evaluation: everything
            top = connection.execute(select(func.max(changes.id))).scalar_one_or_none() or 0
        else:
            rows = connection.execute(select(changes.id, changes.integration).where(changes.id > watermark)
                                      .order_by(changes.id).limit(_CHANGES_PER_TICK)).all()
            if not rows:
                return result
            names = sorted({row.integration for row in rows})
            top = rows[-1].id
            result.behind = len(rows) == _CHANGES_PER_TICK
        query = select(integration_states.c.integration, integration_states.c.state, integration_states.c.since,
                       integration_states.c.cause, integration_states.c.explained_by)
        if names is not None:
            query = query.where(integration_states.c.integration.in_(names))
        for row in connection.execute(query):
            if context.integrations and row.integration not in context.integrations:
                continue  # no longer configured
            labels = context.integration_labels(row.integration)
            details = {"state": row.state, "cause": row.cause or "", "explained_by": row.explained_by or "",
                       "since": row.since.isoformat(timespec="seconds") if row.since else ""}
            for rule in rules:
                assert isinstance(rule, IntegrationStateRule)
                if selected(rule, labels):
                    result.observations.append(Observation(rule.name, labels, row.state in rule.states,
                                                           row.since or context.now, details=details))
        context.cursors["integration_state_changes"] = top
        return result


class FailoverSource:
    """Every switch of a failover group's active provider: one event each."""

    name = "integration_failover"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        events = integration_failover_events.c
        watermark = context.cursors.get("integration_failover_events")
        if watermark is None:
            watermark = context.connection.execute(
                select(func.max(events.id)).where(events.switched_at < context.now - FIRST_LOOKBACK)
            ).scalar_one_or_none() or 0
        rows = context.connection.execute(select(integration_failover_events).where(events.id > watermark)
                                          .order_by(events.id).limit(1000)).all()
        result = Collected(behind=len(rows) == 1000)
        for row in rows:
            labels = {"failover_group": row.failover_group, "from_integration": row.from_integration or "",
                      "to_integration": row.to_integration or ""}
            details = {"reason": row.reason, "switched_at": row.switched_at.isoformat(timespec="seconds")}
            for rule in rules:
                if selected(rule, labels):
                    result.observations.append(Observation(rule.name, labels, True, row.switched_at,
                                                           details=details, identity=str(row.id)))
            watermark = row.id
        context.cursors["integration_failover_events"] = watermark
        return result


class SlaBurnRateSource:
    """Multi-window, multi-burn-rate (Google SRE workbook): the share of failed probes over a long and a short
    window, each divided by the error budget's share (1 - SLA). Fires when both exceed the rule's factor: the long
    window proves it matters, the short one that it is still happening (so it also resolves quickly)."""

    name = "sla_burn_rate"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        result = Collected()
        for rule in rules:
            assert isinstance(rule, SlaBurnRateRule)
            if not context.polled_due(rule, rule.evaluate_every):
                continue
            result.complete.add(rule.name)
            for name, long_ratio, short_ratio, short_probes in burn_windows(context, rule):
                labels = context.integration_labels(name)
                if not selected(rule, labels):
                    continue
                budget = 1.0 - context.integrations[name].sla / 100.0 if name in context.integrations else 0.001
                budget = max(budget, 1e-6)
                long_burn, short_burn = long_ratio / budget, short_ratio / budget
                active = short_probes >= rule.min_probes and long_burn >= rule.factor and short_burn >= rule.factor
                sla = context.integrations[name].sla if name in context.integrations else 99.9
                details = {"burn_rate_long": round(long_burn, 3), "burn_rate_short": round(short_burn, 3),
                           "long_window": rule.long_window, "short_window": rule.short_window,
                           "factor": rule.factor, "sla": sla}
                result.observations.append(Observation(rule.name, labels, active, context.now, value=long_burn,
                                                       details=details))
        return result


def burn_windows(context: SourceContext, rule: SlaBurnRateRule) -> list[tuple[str, float, float, int]]:
    """(integration, failed share over the long window, over the short window, probes in the short window), from
    probes that made a call outside maintenance windows."""
    table = integration_probe_results.c
    long_start = context.now - timedelta(seconds=rule.long_window)
    short_start = context.now - timedelta(seconds=rule.short_window)
    failed = table.outcome == "failed"
    in_short = table.probed_at >= short_start
    query = (
        select(
            table.integration,
            func.count(),
            func.sum(case((failed, 1), else_=0), type_=Integer),
            func.sum(case((in_short, 1), else_=0), type_=Integer),
            func.sum(case((failed & in_short, 1), else_=0), type_=Integer),
        )
        .where(table.probed_at >= long_start, table.probed_at <= context.now, table.outcome != "skipped",
               table.state != "MAINTENANCE")
        .group_by(table.integration)
    )
    windows = []
    for name, probes, failures, short_probes, short_failures in context.connection.execute(query):
        long_ratio = (failures or 0) / probes if probes else 0.0
        short_ratio = (short_failures or 0) / short_probes if short_probes else 0.0
        windows.append((name, long_ratio, short_ratio, int(short_probes or 0)))
    return windows
