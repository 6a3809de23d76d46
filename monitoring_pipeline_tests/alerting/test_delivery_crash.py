"""A delivering process killed with SIGKILL: between the alert transition and the send, and after a send but before
its log entry. After a restart every decided notification is delivered, none is lost, and the only duplicate is
the one that was in flight."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from monitoring_pipeline.fakes.inbox import RecordingReceiver
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    enqueue_all,
    group,
    log_rows,
    outbox_rows,
    recording,  # noqa: F401 - fixture
)

WORKER = Path(__file__).with_name("delivery_worker.py")
pytestmark = pytest.mark.slow


def run(engine, recording: RecordingReceiver, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.run([sys.executable, str(WORKER), url, recording.url, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def keys(recording: RecordingReceiver) -> Counter[str]:  # noqa: F811
    return Counter(r.headers["idempotency-key"] for r in recording.received("/webhook/crash"))


def test_killed_between_the_transition_and_the_send(engine, recording):  # noqa: F811
    died = run(engine, recording, "decide-then-die", "5")
    assert died.returncode == -signal.SIGKILL
    assert [r.status for r in outbox_rows(engine)] == ["pending"] * 5  # decided, durable, not yet sent
    assert keys(recording) == Counter()
    restarted = run(engine, recording, "deliver")
    assert restarted.returncode == 0, restarted.stderr
    assert [r.status for r in outbox_rows(engine)] == ["delivered"] * 5
    assert sorted(keys(recording).values()) == [1] * 5


def test_killed_after_a_send_before_its_log_entry(engine, recording):  # noqa: F811
    decided = [group("trigger", group_key=f"g{i:02d}") for i in range(10)]
    enqueue_all(engine, *decided)
    died = run(engine, recording, "die-after-send", "4")
    assert died.returncode == -signal.SIGKILL
    in_flight = recording.received("/webhook/crash")[-1].headers["idempotency-key"]
    assert len(keys(recording)) == 4 and len(log_rows(engine)) == 3  # the 4th was sent, never logged
    restarted = run(engine, recording, "deliver")
    assert restarted.returncode == 0, restarted.stderr
    received = keys(recording)
    assert set(received) == {n.idempotency_key for n in decided}  # none lost
    assert {key for key, times in received.items() if times > 1} == {in_flight}  # one duplicate: the one in flight
    assert received[in_flight] == 2
    assert [r.status for r in outbox_rows(engine)] == ["delivered"] * 10
    assert len(log_rows(engine)) == 10
