"""The transactional outbox: the engine records each decided notification here, inside the transaction of the
alert transition that caused it; the delivery step sends what is due, at least once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.storage.schema import alert_outbox

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # a permanent failure for this notification (the receiver is marked broken)
HELD = "held"  # waiting for a broken receiver's configuration to be fixed


def enqueue(connection: Connection, notification: Notification, due_at: datetime | None = None) -> bool:
    """Record ``notification`` in the caller's transaction; False when its idempotency key is already there (the
    engine decided it before a crash: it is not decided twice)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(alert_outbox).values(
        idempotency_key=notification.idempotency_key,
        receiver=notification.receiver,
        kind=notification.kind,
        group_key=notification.group_key,
        payload=notification.to_json(),
        created_at=notification.created_at,
        due_at=due_at or notification.created_at,
        status=PENDING,
        attempts=0,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return connection.execute(statement).rowcount == 1
