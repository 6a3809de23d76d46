"""End-to-end alert latency (not run by the tests): an HTTP integration goes DOWN -> the probe sees it -> the alert
engine evaluates -> delivery -> a local webhook receiver records the request's arrival. With group_wait 0 the goal
is p50 and p99 within the probe interval + the evaluation interval + 1 s.

What runs, all for real: the sandbox (its own process) serves one endpoint per integration; HealthMonitor.run_pass
(the probe sensor's code) every probe interval; AlertEngine.evaluate (the evaluation sensor's code) every evaluation
interval, followed, when it queued notifications, by deliver_due, as alert_evaluation_sensor does; PostgreSQL (a
throwaway database); the recording receiver (its own process). Dagster's daemon is not started: the plain-Python
functions its sensors call are driven on their intervals by this script's threads.

The same alert stream also goes to Debian's prometheus-alertmanager (a free loopback port, group_wait 0, its webhook
= the same recording receiver) through our Alertmanager channel, so both paths are printed side by side:
notifications delivered, duplicates and latency from the outage's start.

Each integration's endpoint starts answering 503 at its own moment, spread over ``--spread`` seconds, so outages
fall at every phase of the probe ticks; each of ``--rounds`` rounds starts the probe and evaluation ticks at new
random phases, so the delay between a probe and the next evaluation takes every value too.
``thresholds.failure: 1``: the first failed probe is DOWN.

Run: .venv/bin/python bench/alert_latency_bench.py [--outages 60] [--rounds 6] [--spread 10] [--probe-interval 5]
     [--evaluation-interval 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench._common and the tests' Alertmanager launcher

from bench._common import cli_server_process, throwaway_database  # noqa: E402
from bench.delivery_bench import receiver_process  # noqa: E402
from monitoring_pipeline.alerting.config import load_alerting  # noqa: E402
from monitoring_pipeline.alerting.delivery import Pacer, deliver_due  # noqa: E402
from monitoring_pipeline.alerting.evaluation import AlertEngine  # noqa: E402
from monitoring_pipeline.fakes.sandbox.admin_client import SandboxAdmin  # noqa: E402
from monitoring_pipeline.integrations.config import load_integrations  # noqa: E402
from monitoring_pipeline.integrations.monitor import HealthMonitor  # noqa: E402
from monitoring_pipeline.storage.database import create_db_engine, migrate  # noqa: E402
from monitoring_pipeline.storage.schema import alerts, integration_state_changes  # noqa: E402
from monitoring_pipeline_tests.alerting.alertmanager_process import (  # noqa: E402
    alertmanager_config,
    running_alertmanager,
)

RULE = "integration_down"


def integrations_yaml(sandbox_url: str, names: list[str], interval: float) -> dict:
    return {
        "probing": {"concurrency": 200, "tick_budget": f"{max(interval - 1, 1):g}s"},
        "defaults": {"category": "bench", "interval": f"{interval:g}s", "timeout": "1s",
                     "retries": {"attempts": 0}, "thresholds": {"failure": 1}},
        "integrations": [{"name": name.replace("-", "_"), "url": f"{sandbox_url}/{name}",
                          "conditions": [{"status": 200}]} for name in names],
    }


def alerting_yaml(receiver_url: str, alertmanager_url: str, evaluation_interval: float) -> dict:
    """The default rules; integration_down goes to our webhook and, the same stream, to Alertmanager (group_wait 0,
    one group per integration); anything else to a receiver without channels."""
    down = [f'alertname="{RULE}"']
    return {
        "route": {"receiver": "elsewhere", "group_by": ["alertname", "integration"], "group_wait": "0s",
                  "group_interval": "1m", "repeat_interval": "4h",
                  "routes": [{"receiver": "webhook", "matchers": down, "continue": True},
                             {"receiver": "alertmanager", "matchers": down}]},
        "receivers": [
            {"name": "elsewhere"},
            {"name": "webhook", "channels": [{"type": "webhook", "url": f"{receiver_url}/ours"}]},
            {"name": "alertmanager", "channels": [{"type": "alertmanager", "url": alertmanager_url,
                                                   "resend_interval_seconds": 60}]},
        ],
        "evaluation": {"budget": f"{max(evaluation_interval - 1, 1):g}s"},
    }


def every(interval: float, stop: threading.Event, action: Callable[[], None], errors: list[str]) -> threading.Thread:
    """Run ``action`` every ``interval`` seconds (from each start, as Dagster's minimum_interval_seconds) until
    ``stop``; the first run after a random phase, as a sensor's ticks do not line up with anything."""
    def loop() -> None:
        next_at = time.monotonic() + random.uniform(0, interval)
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            try:
                action()
            except Exception as error:  # noqa: BLE001 - a bench reports, the next tick tries again
                errors.append(f"{type(error).__name__}: {error}")
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    if not ordered:
        return float("nan"), float("nan")
    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
    return at(0.5), at(0.99)


def run(outages: int, rounds: int, probe_interval: float, evaluation_interval: float, spread: float) -> None:
    load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    names = [f"api-{n:03d}" for n in range(outages)]
    with tempfile.TemporaryDirectory(prefix="alert-latency-") as scratch, throwaway_database() as database_url, \
            cli_server_process(["sandbox"], "/_sandbox/endpoints") as (sandbox_url, _), \
            SandboxAdmin(sandbox_url) as sandbox, receiver_process() as (receiver_url, received):
        directory = Path(scratch)
        am_config = alertmanager_config(f"{receiver_url}/amhook", group_wait="0s", group_interval="1s",
                                        repeat_interval="4h", group_by=("alertname", "integration"))
        with running_alertmanager(directory / "am", am_config) as alertmanager_url:
            for name in names:
                sandbox.put_endpoint(name, status=200)
            (directory / "integrations.yaml").write_text(
                yaml.safe_dump(integrations_yaml(sandbox_url, names, probe_interval)))
            (directory / "alerting.yaml").write_text(
                yaml.safe_dump(alerting_yaml(receiver_url, alertmanager_url, evaluation_interval)))
            integrations = load_integrations(directory / "integrations.yaml")
            config = load_alerting(directory / "alerting.yaml")
            engine = create_db_engine(database_url)
            migrate(engine)
            monitor = HealthMonitor(engine, integrations)
            alert_engine = AlertEngine(engine, config, integrations)
            pacer = Pacer()
            delivered_at_once: list[int] = []

            def evaluate() -> None:  # alert_evaluation_sensor's tick: evaluate, then send what it queued
                report = alert_engine.evaluate()
                if report.notifications:
                    delivered_at_once.append(deliver_due(engine, config.receivers, budget_seconds=5.0,
                                                         pacer=pacer).delivered)

            monitor.run_pass()  # every integration UP before the first outage
            alert_engine.evaluate()
            errors: list[str] = []
            outage_at: dict[str, float] = {}
            per_round = -(-outages // rounds)
            for round_names in (names[i:i + per_round] for i in range(0, outages, per_round)):
                # Each round starts the probe and evaluation ticks at new random phases: over the rounds the delay
                # between a probe and the next evaluation takes every value, as sensor ticks drift apart.
                stop = threading.Event()
                threads = [every(probe_interval, stop, monitor.run_pass, errors),
                           every(evaluation_interval, stop, evaluate, errors)]
                started = time.monotonic() + max(probe_interval, evaluation_interval)
                moments = sorted(random.uniform(0, spread) for _ in round_names)
                for name, moment in zip(round_names, moments, strict=True):
                    time.sleep(max(0.0, started + moment - time.monotonic()))
                    sandbox.patch_endpoint(name, status=503)
                    outage_at[name.replace("-", "_")] = time.time()
                time.sleep(probe_interval + evaluation_interval + 3)  # the round's last notifications arrive
                stop.set()
                for thread in threads:
                    thread.join(30)
            with engine.connect() as connection:
                seen_at = {row.integration: row.changed_at.timestamp() for row in connection.execute(
                    select(integration_state_changes.c.integration, integration_state_changes.c.changed_at)
                    .where(integration_state_changes.c.to_state == "DOWN"))}
                fired_at = {json.loads(row.labels)["integration"]: row.fired_at.timestamp()
                            for row in connection.execute(select(alerts.c.labels, alerts.c.fired_at)
                                                          .where(alerts.c.rule == RULE))}
            engine.dispose()

    first: dict[str, dict[str, float]] = {"webhook": {}, "alertmanager": {}}
    counts: dict[str, Counter[str]] = {"webhook": Counter(), "alertmanager": Counter()}
    for path, _, body, received_at in received:
        side = "alertmanager" if path.startswith("/amhook") else "webhook"
        for alert in json.loads(body)["alerts"]:
            name = alert["labels"].get("integration")
            if alert["labels"].get("alertname") != RULE or alert["status"] != "firing" or name not in outage_at:
                continue
            counts[side][name] += 1
            first[side].setdefault(name, received_at)

    bound = probe_interval + evaluation_interval + 1.0
    print(f"alert latency: {outages} outages in {rounds} rounds, each spread over {spread:g}s; probe interval "
          f"{probe_interval:g}s, evaluation interval {evaluation_interval:g}s, group_wait 0, PostgreSQL; load "
          f"average before {load_before}")
    print("  driven: HealthMonitor.run_pass and AlertEngine.evaluate (+ deliver_due of what it queued) on their "
          "intervals by this script's threads, not by Dagster's daemon")
    print(f"  goal: p50 and p99 <= probe + evaluation interval + 1 s = {bound:g}s (from the outage's start)")
    for side, label in (("webhook", "ours -> webhook"), ("alertmanager", "ours -> Alertmanager -> webhook")):
        from_outage = [first[side][n] - outage_at[n] for n in first[side]]
        from_probe = [first[side][n] - seen_at[n] for n in first[side] if n in seen_at]
        from_evaluation = [first[side][n] - fired_at[n] for n in first[side] if n in fired_at]
        p50, p99 = percentiles(from_outage)
        s50, s99 = percentiles(from_probe)
        e50, e99 = percentiles(from_evaluation)
        duplicates = sum(counts[side].values()) - len(counts[side])
        verdict = "meets the goal" if p99 <= bound else "MISSES the goal"
        print(f"  {label:<32} {len(first[side]):>3}/{outages} notified, {duplicates} duplicates; from outage start "
              f"p50 {p50:6.3f}s p99 {p99:6.3f}s ({verdict})")
        print(f"  {'':<32} from the probe that saw DOWN p50 {s50:6.3f}s p99 {s99:6.3f}s; from the evaluation that "
              f"fired it p50 {e50:6.3f}s p99 {e99:6.3f}s")
    if errors:
        print(f"  {len(errors)} tick errors, first: {errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outages", type=int, default=60)
    parser.add_argument("--probe-interval", type=float, default=5.0)
    parser.add_argument("--evaluation-interval", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which a round's outages start")
    args = parser.parse_args()
    run(args.outages, args.rounds, args.probe_interval, args.evaluation_interval, args.spread)


if __name__ == "__main__":
    main()
