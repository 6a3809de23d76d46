"""The outbox records a decided notification once, with everything delivery needs to send it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from monitoring_pipeline.alerting.model import Alert, Notification
from monitoring_pipeline.alerting.outbox import PENDING, enqueue
from monitoring_pipeline.storage.schema import alert_outbox

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def notification(kind: str = "trigger") -> Notification:
    alert = Alert(id=7, fingerprint="f1", rule="integration_down", state="firing", severity="critical",
                  labels={"integration": "stripe", "category": "payments"},
                  annotations={"summary": "stripe is DOWN"}, starts_at=AT, source="integration_state")
    return Notification(idempotency_key=f"g1:{kind}:0:slack-ops", kind=kind, receiver="slack-ops",  # type: ignore[arg-type]
                        group_key="g1", group_labels={"integration": "stripe"}, alerts=(alert,), created_at=AT)


def test_a_notification_survives_the_round_trip_through_json():
    original = notification()
    assert Notification.from_json(original.to_json()) == original
    assert original.severity == "critical" and original.firing == original.alerts


def test_the_same_decision_is_recorded_once(engine):
    with engine.begin() as connection:
        assert enqueue(connection, notification())
        assert not enqueue(connection, notification())  # decided again after a crash: not twice
        assert enqueue(connection, notification("resolution"))
    with engine.connect() as connection:
        rows = connection.execute(select(alert_outbox).order_by(alert_outbox.c.id)).all()
    assert [(r.kind, r.status, r.receiver) for r in rows] == [("trigger", PENDING, "slack-ops"),
                                                             ("resolution", PENDING, "slack-ops")]
    assert Notification.from_json(rows[0].payload).alerts[0].labels["integration"] == "stripe"
