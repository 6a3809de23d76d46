"""Delivery in Dagster: `alert_delivery_sensor` sends what the alert outbox has due, within a time budget, every
10 seconds. (The rest of defs/alerting/ is the engine's: evaluation, history, checks.)"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from monitoring_pipeline.alerting.delivery import deliver_due
from monitoring_pipeline.alerting.receivers import ReceiverConfig, load_receivers
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.settings import ProjectSettings

DELIVERY_INTERVAL_SECONDS = 10
# A tick must end well within Dagster's 60 s: sends stop starting at the budget, and none outlives it.
DELIVERY_BUDGET_SECONDS = 30.0


class AlertDeliveryResource(dg.ConfigurableResource):
    """Where the receivers are configured (the alerting file, re-read every tick so fixes apply at once) and how
    long a delivery pass may take."""

    alerting_config: str = Field(description="Path of the alerting file whose receivers: section is used.")
    budget_seconds: float = Field(DELIVERY_BUDGET_SECONDS, gt=0, le=45)

    def receivers(self) -> dict[str, ReceiverConfig]:
        return load_receivers(Path(self.alerting_config))


@dg.sensor(
    name="alert_delivery_sensor",
    minimum_interval_seconds=DELIVERY_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends the alert notifications that are due from the outbox to every channel of their receiver, "
    "paced per channel and within a time budget; records every attempt in the delivery log; retries with backoff; "
    "holds the notifications of a broken receiver until its configuration changes or a test succeeds.",
)
def alert_delivery_sensor(context: dg.SensorEvaluationContext, database: ProjectDatabaseResource,
                          alert_delivery: AlertDeliveryResource) -> dg.SensorResult:
    report = deliver_due(database.get_engine(), alert_delivery.receivers(),
                         budget_seconds=alert_delivery.budget_seconds)
    for receiver in report.broken:
        context.log.warning("receiver %s is broken; its notifications are held (see `alerts deliveries`)", receiver)
    for receiver in report.recovered:
        context.log.info("receiver %s works again; its held notifications are being sent", receiver)
    if report.attempts:
        context.log.info(report.summary())
    cursor = json.dumps({"delivered": report.delivered, "retried": report.retried, "held": report.held,
                         "failed": report.failed, "attempts": report.attempts})
    return dg.SensorResult(cursor=cursor, skip_reason=report.summary())


def delivery_definitions(settings: ProjectSettings) -> dg.Definitions:
    """The delivery sensor and its resource; ``database`` comes from the shared definitions. A bad receivers section
    stops the code location from loading, naming the file and field."""
    load_receivers(settings.alerting_file)
    return dg.Definitions(
        sensors=[alert_delivery_sensor],
        resources={"alert_delivery": AlertDeliveryResource(alerting_config=str(settings.alerting_file))},
    )
