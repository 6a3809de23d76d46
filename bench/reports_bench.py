"""Benchmark the daily report for a day with 100,000 D&B notifications and 5,000 integrations (not part of the
test command): `monitoring-pipeline report --day D` in its own process, wall time and its peak RSS.
Goal: under 10 s and 500 MiB.

Run: .venv/bin/python bench/reports_bench.py [--notifications 100000] [--integrations 5000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' seeding helper

from monitoring_pipeline.storage.database import create_db_engine, migrate  # noqa: E402
from monitoring_pipeline_tests.ops.seed import integrations_file, seed, seed_dnb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--integrations", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        engine = create_db_engine(f"sqlite:///{tmp / 'project.db'}")
        migrate(engine)
        names = integrations_file(tmp / "integrations.yaml", args.integrations)
        now = datetime.now(UTC)
        day = now.date() - timedelta(days=1)
        started = time.perf_counter()
        seed(engine, names, now, days=14, probes_per_integration=1, notifications=0)
        seed_dnb(engine, now, args.notifications, random.Random(3), day=day)
        print(f"seeded {args.notifications:,} notifications on {day} and {len(names):,} integrations "
              f"in {time.perf_counter() - started:.1f}s")
        (tmp / "registrations").mkdir()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'project.db'}",
               "INTEGRATIONS_CONFIG": str(tmp / "integrations.yaml"),
               "MONITORING_PIPELINE_REGISTRATIONS_DIR": str(tmp / "registrations"),
               "MONITORING_PIPELINE_HOME": str(tmp / "home"), "MONITORING_PIPELINE_DATA_DIR": str(tmp / "data"),
               "OPS_CONFIG": ""}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "monitoring_pipeline.cli", "report", "--day", day.isoformat()],
                              env=env, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(done.stdout.strip().splitlines()[0])
        print(f"daily report: {elapsed:.2f} s wall (process start included), peak RSS {peak_mib:.0f} MiB "
              f"(goals: < 10 s, < 500 MiB)")


if __name__ == "__main__":
    main()
