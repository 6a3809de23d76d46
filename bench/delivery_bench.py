"""Alert delivery benchmarks (not run by the tests). Each prints its figures.

    .venv/bin/python bench/delivery_bench.py throughput [--count 5000] [--backend sqlite|postgres|both]
        notifications/s from the outbox to a local webhook receiver (in its own process): lease, send, log, mark.
    .venv/bin/python bench/delivery_bench.py alertmanager [--alerts 300] [--rate 50]
        the same alert stream through Debian's prometheus-alertmanager (pushed to /api/v2/alerts, its webhook to
        the receiver) and through our outbox + delivery to the same receiver: delivered, duplicates, p50/p99.

End to end (probe sees DOWN -> evaluation -> delivery -> receiver, beside Alertmanager): bench/alert_latency_bench.py.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' Alertmanager launcher serves here too

from bench._common import throwaway_database  # noqa: E402
from monitoring_pipeline.alerting.delivery import DeliverySettings, Pacer, deliver_due  # noqa: E402
from monitoring_pipeline.alerting.model import Alert, Notification  # noqa: E402
from monitoring_pipeline.alerting.outbox import enqueue  # noqa: E402
from monitoring_pipeline.alerting.receivers import ReceiverConfig  # noqa: E402
from monitoring_pipeline.fakes.inbox import RecordingReceiver  # noqa: E402
from monitoring_pipeline.storage.database import create_db_engine, migrate  # noqa: E402
from monitoring_pipeline_tests.alerting.alertmanager_process import (  # noqa: E402
    alertmanager_config,
    running_alertmanager,
)


def _serve(pipe: Connection) -> None:
    with RecordingReceiver(port=0) as receiver:
        pipe.send(receiver.url)
        pipe.recv()  # "stop"
        pipe.send([(r.path, r.headers.get("idempotency-key", ""), r.body, r.received_at)
                   for r in receiver.received()])


@contextmanager
def receiver_process() -> Iterator[tuple[str, list]]:
    """The recording receiver in its own process (a receiver does not share our interpreter); yields its URL and a
    list filled with (path, idempotency key, body, received_at) once the block ends."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    process.start()
    url = parent.recv()
    received: list = []
    try:
        yield url, received
    finally:
        parent.send("stop")
        received.extend(parent.recv())
        process.join(10)


def notification(index: int, created_at: datetime, receiver: str = "bench", kind: str = "trigger") -> Notification:
    alert = Alert(id=index, fingerprint=f"fp{index}", rule="integration_down", state="firing", severity="critical",
                  labels={"alertname": "integration_down", "integration": f"service-{index}"},
                  annotations={"summary": f"service-{index} is DOWN"}, starts_at=created_at)
    if kind == "resolution":
        alert = replace(alert, state="resolved", ends_at=created_at)
    return Notification(idempotency_key=f"g{index}:{kind}:{receiver}", kind=kind,  # type: ignore[arg-type]
                        receiver=receiver, group_key=f"g{index}", group_labels={"integration": f"service-{index}"},
                        alerts=(alert,), created_at=created_at)


def webhook_receiver(url: str) -> ReceiverConfig:
    return ReceiverConfig.model_validate({"name": "bench", "channels": [
        {"type": "webhook", "url": f"{url}/webhook/bench", "timeout_seconds": 10}]})


async def _bare_posts(url: str, count: int, concurrency: int) -> float:
    """The floor: the same number of POSTs by a bare httpx client (8 at a time, like one target), no database."""
    import asyncio

    body = b'{"version":"4","alerts":[' + b'{"status":"firing"},' * 10 + b'{}]}'
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        slots = asyncio.Semaphore(concurrency)

        async def post(index: int) -> None:
            async with slots:
                (await client.post(f"{url}/bare/{index}", content=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(count)))
        return time.perf_counter() - started


def throughput(database_url: str, count: int, label: str) -> None:
    engine = create_db_engine(database_url)
    migrate(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for index in range(count):
            enqueue(connection, notification(index, now))
    settings = DeliverySettings(batch_size=500, concurrency=64)
    with receiver_process() as (url, received):
        config = webhook_receiver(url)
        deliver_due(engine, [config], budget_seconds=0.6, settings=settings, pacer=Pacer())  # warm up
        started = time.perf_counter()
        cpu = time.process_time()
        delivered = 0
        while True:
            report = deliver_due(engine, [config], budget_seconds=30, settings=settings, pacer=Pacer())
            delivered += report.delivered
            if report.leased == 0:
                break
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        import asyncio

        bare = asyncio.run(_bare_posts(url, count, DeliverySettings().per_target))
    keys = Counter(key for path, key, _, _ in received if path.startswith("/webhook/"))
    print(f"throughput [{label}]: {len(keys)} of {count} notifications delivered in {elapsed:.2f}s after warm-up "
          f"= {delivered / elapsed:,.0f}/s (delivery process CPU {cpu:.2f}s); duplicates "
          f"{sum(keys.values()) - len(keys)}; bare httpx POSTs to the same receiver: {count / bare:,.0f}/s")
    engine.dispose()


def _percentiles(latencies: list[float]) -> str:
    if not latencies:
        return "n/a"
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def side_by_side(database_url: str, alerts: int, rate: float) -> None:
    """One alert stream (one DOWN per integration, at ``rate`` per second) to a real Alertmanager and through our
    outbox, both ending at the same recording receiver."""
    engine = create_db_engine(database_url)
    migrate(engine)
    with tempfile.TemporaryDirectory() as workdir, receiver_process() as (url, received):
        config = alertmanager_config(f"{url}/amhook", group_wait="0s", group_interval="1s",
                                     group_by=("alertname", "integration"))
        with running_alertmanager(Path(workdir), config) as am_url:
            ours = webhook_receiver(url)
            stop = threading.Event()
            sent_at: dict[str, float] = {}

            def delivery_loop() -> None:  # what the ops service's delivery worker does: pass after pass
                while not stop.is_set():
                    report = deliver_due(engine, [ours], budget_seconds=1.0, settings=DeliverySettings(),
                                         pacer=Pacer())
                    if report.leased == 0:
                        time.sleep(0.05)

            worker = threading.Thread(target=delivery_loop, daemon=True)
            worker.start()
            with httpx.Client(timeout=10) as client:
                start = time.perf_counter()
                for index in range(alerts):
                    due = start + index / rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                    now = datetime.now(UTC)
                    sent_at[f"service-{index}"] = time.time()
                    with engine.begin() as connection:  # our side: the engine's transaction writes the outbox
                        enqueue(connection, notification(index, now))
                    client.post(f"{am_url}/api/v2/alerts", json=[{  # their side: Prometheus pushing the alert
                        "labels": {"alertname": "integration_down", "integration": f"service-{index}"},
                        "annotations": {"summary": f"service-{index} is DOWN"},
                        "startsAt": now.isoformat()}]).raise_for_status()
            time.sleep(5)  # let the last notifications arrive
            stop.set()
            worker.join(10)
    import json

    first_seen: dict[str, dict[str, float]] = {"alertmanager": {}, "ours": {}}
    counts: dict[str, Counter[str]] = {"alertmanager": Counter(), "ours": Counter()}
    for path, _, body, received_at in received:
        side = "alertmanager" if path.startswith("/amhook") else "ours"
        for alert in json.loads(body)["alerts"]:
            name = alert["labels"]["integration"]
            counts[side][name] += 1
            first_seen[side].setdefault(name, received_at)
    for side in ("alertmanager", "ours"):
        latencies = [first_seen[side][name] - sent_at[name] for name in first_seen[side]]
        duplicates = sum(counts[side].values()) - len(counts[side])
        print(f"{side:>12}: {len(counts[side])} of {alerts} alerts notified, {duplicates} duplicates, "
              f"latency {_percentiles(latencies)}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("throughput", "alertmanager"))
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    if args.mode == "throughput":
        if args.backend in ("sqlite", "both"):
            with tempfile.TemporaryDirectory() as directory:
                throughput(f"sqlite:///{directory}/project.db", args.count, "SQLite")
        if args.backend in ("postgres", "both"):
            with throwaway_database() as url:
                throughput(url, args.count, "PostgreSQL")
    else:
        with throwaway_database() as url:
            side_by_side(url, args.alerts, args.rate)


if __name__ == "__main__":
    main()
