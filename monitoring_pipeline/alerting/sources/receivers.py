"""Our own delivery as an alert source: a receiver that delivery marked broken ("receiver X is failing: <reason>").
The engine routes these alerts to every other receiver, never to the broken one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from monitoring_pipeline.alerting.config import RuleConfig
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.storage.schema import alert_receiver_status

BROKEN = "broken"


class ReceiverHealthSource:
    name = "receiver_health"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        status = alert_receiver_status.c
        rows = context.connection.execute(select(status.receiver, status.state, status.reason, status.since)).all()
        result = Collected(complete={rule.name for rule in rules})
        for row in rows:
            labels = {"receiver": row.receiver}
            details = {"reason": row.reason or "unknown", "since": row.since.isoformat(timespec="seconds")}
            for rule in rules:
                if selected(rule, labels):
                    result.observations.append(Observation(rule.name, labels, row.state == BROKEN, context.now,
                                                           details=details))
        return result
