"""The Alertmanager channel against Debian's real ``prometheus-alertmanager``, started by the test with a webhook
receiver that is our recording server: our alerts come out the other side, firing and then resolved, and alerts
that still fire are re-sent before their endsAt passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitoring_pipeline.alerting.delivery import DeliverySettings, Pacer, deliver_due
from monitoring_pipeline.fakes.inbox import RecordingReceiver
from monitoring_pipeline.httpserver import free_port
from monitoring_pipeline_tests.alerting.alertmanager_process import alertmanager_config, running_alertmanager
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    enqueue_all,
    group,
    log_rows,
    receiver,
    recording,  # noqa: F401 - fixture
)
from monitoring_pipeline_tests.waiting import eventually


@pytest.fixture
def alertmanager(tmp_path: Path, recording: RecordingReceiver) -> Iterator[str]:  # noqa: F811
    with running_alertmanager(tmp_path / "am", alertmanager_config(f"{recording.url}/amhook")) as url:
        yield url


def test_alerts_go_through_alertmanager_and_resolve(sqlite_engine, alertmanager, recording):  # noqa: F811
    ops = receiver("ops", {"type": "alertmanager", "url": alertmanager, "resend_interval_seconds": 60})
    now = datetime.now(UTC)
    enqueue_all(sqlite_engine, group("trigger", created_at=now))
    report = deliver_due(sqlite_engine, [ops], budget_seconds=10, pacer=Pacer())
    assert report.delivered == 1
    firing = eventually(lambda: [r.json() for r in recording.received("/amhook")
                                 if r.json()["status"] == "firing"], timeout=20)
    assert firing, "Alertmanager sent nothing to its webhook"
    labels = sorted((a["labels"]["integration"], a["labels"]["severity"]) for a in firing[0]["alerts"])
    assert labels == [("paypal", "warning"), ("stripe", "critical")]
    assert firing[0]["alerts"][0]["annotations"]["summary"].endswith("is DOWN")
    assert firing[0]["alerts"][0]["generatorURL"].startswith("https://ops.example.com/alerts/")

    enqueue_all(sqlite_engine, group("resolution", created_at=now))
    assert deliver_due(sqlite_engine, [ops], budget_seconds=10, pacer=Pacer()).delivered == 1
    resolved = eventually(lambda: [r.json() for r in recording.received("/amhook")
                                   if r.json()["status"] == "resolved"], timeout=20)
    assert resolved and {a["status"] for a in resolved[-1]["alerts"]} == {"resolved"}
    assert [e.outcome for e in log_rows(sqlite_engine)] == ["delivered", "delivered"]


def test_firing_alerts_are_re_sent_before_alertmanager_resolves_them(sqlite_engine, alertmanager):
    ops = receiver("ops", {"type": "alertmanager", "url": alertmanager, "resend_interval_seconds": 60})
    now = datetime.now(UTC)
    enqueue_all(sqlite_engine, group("trigger", created_at=now))
    deliver_due(sqlite_engine, [ops], now=now, budget_seconds=10, pacer=Pacer())

    def ends_at() -> set[str]:
        alerts = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        return {a["endsAt"] for a in alerts}

    first = eventually(ends_at, timeout=10)
    assert len(first) == 1
    # A minute later the delivery step re-sends them with a new endsAt, though no notification was decided.
    later = now + timedelta(seconds=61)
    report = deliver_due(sqlite_engine, [ops], now=later, budget_seconds=10, settings=DeliverySettings(),
                         pacer=Pacer())
    assert report.refreshed == 2 and report.attempts == 0  # attempts: of outbox rows; the re-send is logged
    moved = eventually(lambda: ends_at() if ends_at() != first else None, timeout=10)
    assert moved and max(moved) > max(first)
    # Nothing to re-send until the next interval.
    assert deliver_due(sqlite_engine, [ops], now=later + timedelta(seconds=10), budget_seconds=5,
                       pacer=Pacer()).refreshed == 0
    # The re-send is in the delivery log like every attempt, against the notification that pushed the alerts.
    trigger, resend = log_rows(sqlite_engine)
    assert (trigger.kind, trigger.attempt, trigger.outcome) == ("trigger", 1, "delivered")
    assert (resend.outbox_id, resend.idempotency_key, resend.receiver, resend.channel, resend.channel_type) == \
        (trigger.outbox_id, trigger.idempotency_key, "ops", "alertmanager", "alertmanager")
    assert (resend.kind, resend.attempt, resend.outcome, resend.status_code) == ("resend", 2, "delivered", 200)
    assert resend.attempted_at == later and resend.detail.startswith("2 firing alerts re-sent: 200")
    assert resend.latency_ms is not None


def test_a_failed_re_send_is_logged_and_tried_again(sqlite_engine, alertmanager):
    ops = receiver("ops", {"type": "alertmanager", "url": alertmanager, "resend_interval_seconds": 60})
    now = datetime.now(UTC)
    enqueue_all(sqlite_engine, group("trigger", created_at=now))
    deliver_due(sqlite_engine, [ops], now=now, budget_seconds=10, pacer=Pacer())
    # Alertmanager moved and nothing answers at the old address: the re-send fails, is logged, and waits.
    gone = receiver("ops", {"type": "alertmanager", "url": f"http://127.0.0.1:{free_port()}",
                            "resend_interval_seconds": 60})
    later = now + timedelta(seconds=61)
    assert deliver_due(sqlite_engine, [gone], now=later, budget_seconds=10, pacer=Pacer()).refreshed == 0
    failed = log_rows(sqlite_engine)[-1]
    assert (failed.kind, failed.attempt, failed.outcome, failed.status_code) == ("resend", 2, "retry", None)
    assert failed.detail.startswith("2 firing alerts re-sent: ConnectError")
    # Back at its address, the next pass re-sends them.
    assert deliver_due(sqlite_engine, [ops], now=later + timedelta(seconds=5), budget_seconds=10,
                       pacer=Pacer()).refreshed == 2
    assert [(r.kind, r.attempt, r.outcome) for r in log_rows(sqlite_engine)] == [
        ("trigger", 1, "delivered"), ("resend", 2, "retry"), ("resend", 3, "delivered")]
