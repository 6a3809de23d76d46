"""A delivering process for the crash tests, killed with SIGKILL at a chosen point.

    python delivery_worker.py DATABASE_URL RECEIVER_URL decide-then-die N   enqueue N notifications (the alert
                                                                           transition) and die before sending
    python delivery_worker.py DATABASE_URL RECEIVER_URL die-after-send K     deliver; die right after the K-th send
                                                                           returns, before its log entry
    python delivery_worker.py DATABASE_URL RECEIVER_URL deliver             deliver everything (a restart, once the
                                                                           dead process's leases have expired)
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitoring_pipeline.alerting.delivery import DeliverySettings, Pacer, deliver_due  # noqa: E402
from monitoring_pipeline.alerting.outbox import enqueue  # noqa: E402
from monitoring_pipeline.alerting.receivers import ReceiverConfig  # noqa: E402
from monitoring_pipeline.storage.database import create_db_engine  # noqa: E402
from monitoring_pipeline_tests.alerting.delivery_fixtures import group  # noqa: E402

LEASE_SECONDS = 5.0
SETTINGS = DeliverySettings(concurrency=1, batch_size=3, lease_seconds=LEASE_SECONDS)


def main(database_url: str, receiver_url: str, mode: str, count: int = 0) -> None:
    engine = create_db_engine(database_url)
    ops = ReceiverConfig.model_validate({"name": "ops", "channels": [
        {"type": "webhook", "url": f"{receiver_url}/webhook/crash", "rate_limit_per_second": 1000}]})
    if mode == "decide-then-die":
        with engine.begin() as connection:
            for index in range(count):
                enqueue(connection, group("trigger", group_key=f"decided-{index}"))
        os.kill(os.getpid(), signal.SIGKILL)
    sent = [0]

    def die_after(row, channel, result) -> None:  # type: ignore[no-untyped-def]
        sent[0] += 1
        if mode == "die-after-send" and sent[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)

    # A restart comes after the dead process's leases expired: its clock is that much later.
    now = datetime.now(UTC) + (timedelta(seconds=LEASE_SECONDS + 1) if mode == "deliver" else timedelta())
    report = deliver_due(engine, [ops], now=now, budget_seconds=30, settings=SETTINGS, pacer=Pacer(),
                         on_sent=die_after)
    print(report.summary())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
