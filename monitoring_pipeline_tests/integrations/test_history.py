"""Hourly rollups and the raw retention under concurrency, on both backends: several day partitions rolling up
overlapping hours at once, next to the retention pruning, finish without error and agree with a sequential run."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, func, select

from monitoring_pipeline.integrations.history import downsample, rollup
from monitoring_pipeline.storage.schema import integration_probe_hourly, integration_probe_results
from monitoring_pipeline_tests.integrations.scripted import FAILED, START, UP, scripted_monitor, write_config

INTERVALS = {"stripe": 300.0, "paypal": 300.0}
ROUNDS = 4
WORKERS = 4


def probed_hours(engine, tmp_path, hours):
    common = {"category": "payments", "interval": "5m", "timeout": "2s", "retries": {"attempts": 0},
              "thresholds": {"failure": 2, "success": 2}, "breaker": {"failure_threshold": 1000}}
    config = write_config(tmp_path, [{"name": "stripe", "url": "http://127.0.0.1:9/s", **common},
                                     {"name": "paypal", "url": "http://127.0.0.1:9/p", **common}])
    monitor, runner, clock = scripted_monitor(engine, config)
    for step in range(hours * 12):
        runner.outcomes["stripe"] = FAILED if step % 12 in (4, 5, 6) else UP  # 15 minutes down every hour
        monitor.run_pass()
        clock.advance(300)


def hourly_table(engine):
    with engine.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(select(integration_probe_hourly)).all())


def run_at_once(*jobs):
    """Start every job at the same instant on its own thread; the errors they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job):
        barrier.wait()
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_overlapping_rollups_at_once_neither_collide_nor_disagree(engine, tmp_path):
    probed_hours(engine, tmp_path, 6)
    rollup(engine, INTERVALS, START, START + timedelta(hours=6))
    expected = hourly_table(engine)
    assert len(expected) == 12
    for _ in range(ROUNDS):
        with engine.begin() as connection:
            connection.execute(delete(integration_probe_hourly))
        # Windows overlapping in hours 2-3, as day partitions do through the state carried into a day.
        windows = [(START, START + timedelta(hours=4)), (START + timedelta(hours=2), START + timedelta(hours=6))]
        errors = run_at_once(*[lambda w=windows[n % 2]: rollup(engine, INTERVALS, *w) for n in range(WORKERS)])
        assert errors == []
        assert hourly_table(engine) == expected


def test_the_retention_next_to_rollups_loses_no_hour(engine, tmp_path):
    probed_hours(engine, tmp_path, 6)
    rollup(engine, INTERVALS, START, START + timedelta(hours=6))
    expected = hourly_table(engine)
    cutoff = START + timedelta(hours=3)
    errors = run_at_once(
        lambda: downsample(engine, INTERVALS, cutoff),
        lambda: downsample(engine, INTERVALS, cutoff),
        lambda: rollup(engine, INTERVALS, START, START + timedelta(hours=6)),
        lambda: rollup(engine, INTERVALS, START + timedelta(hours=1), START + timedelta(hours=5)),
    )
    assert errors == []
    assert hourly_table(engine) == expected  # pruned hours keep their rollups; the others are recomputed alike
    with engine.connect() as connection:
        oldest = connection.execute(select(func.min(integration_probe_results.c.probed_at))).scalar_one()
        kept = connection.execute(select(func.count()).select_from(integration_probe_results)).scalar_one()
    assert oldest.replace(tzinfo=cutoff.tzinfo) == cutoff and kept == 2 * 3 * 12
    assert downsample(engine, INTERVALS, cutoff) == (0, 0)  # idempotent: nothing left to prune
