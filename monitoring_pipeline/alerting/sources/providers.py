"""Incidents providers declare on their status pages (inbound Statuspage or generic webhooks, stored in
``provider_incidents`` by the ops service) as an alert source: one alert per incident (or component) and
integration, its severity from the incident's impact, resolved when the provider resolves it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select

from monitoring_pipeline.alerting.config import ProviderIncidentRule, RuleConfig
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.storage.schema import provider_incidents

# Incidents resolved this recently are observed as no longer holding (a resolution the engine has not seen yet);
# older ones are history.
RESOLVED_LOOKBACK = timedelta(days=1)


class ProviderIncidentSource:
    """Every active provider incident, and those resolved within a day: a small table, read whole each time, so the
    rules' view is complete (an open alert whose incident is gone resolves)."""

    name = "provider_incident"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        table = provider_incidents.c
        rows = context.connection.execute(
            select(provider_incidents).where(or_(table.active.is_(True),
                                                 table.resolved_at >= context.now - RESOLVED_LOOKBACK))).all()
        result = Collected(complete={rule.name for rule in rules})
        for row in rows:
            if context.integrations and row.integration not in context.integrations:
                continue  # no longer configured
            labels = {**context.integration_labels(row.integration), "provider": row.source,
                      "incident": f"{row.kind}:{row.external_id}"}
            details = {"title": row.title, "status": row.status, "impact": row.impact, "url": row.url or "",
                       "detail": row.detail or "", "kind": row.kind,
                       "started_at": row.started_at.isoformat(timespec="seconds")}
            for rule in rules:
                assert isinstance(rule, ProviderIncidentRule)
                if not selected(rule, labels):
                    continue
                active = bool(row.active) and row.impact in rule.impacts
                result.observations.append(Observation(
                    rule.name, labels, active, row.updated_at if not active else row.started_at, details=details,
                    severity=rule.severity_by_impact.get(row.impact, rule.severity)))
        return result
