"""Benchmark the daily report for a day with 100,000 D&B notifications and 5,000 integrations (not part of the
test command). In a fresh process (as a Dagster run is): load the integrations file, gather the figures, render
(charts and HTML), store; wall time of each step and the process's peak RSS. Goal: under 10 s and 500 MiB.

Run: .venv/bin/python bench/reports_bench.py [--notifications 100000] [--integrations 5000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' seeding helper

from monitoring_pipeline_tests.ops.seed import new_database, seed, seed_dnb  # noqa: E402

MEASURED = """
import resource, sys, time
started = time.perf_counter()
from pathlib import Path
from datetime import date
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.ops.config import OpsConfig
from monitoring_pipeline.reports.figures import daily
from monitoring_pipeline.reports.produce import produce_report
from monitoring_pipeline.storage.database import create_db_engine
imported = time.perf_counter()
folder = Path(sys.argv[1])
integrations = load_integrations(folder / "integrations.yaml").integrations
loaded = time.perf_counter()
outcome = produce_report(create_db_engine(f"sqlite:///{folder / 'project.db'}"), daily(date.fromisoformat(sys.argv[2])),
                         OpsConfig(), integrations, folder / "reports", 5.0, send_mail=False)
done = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{outcome.figures.headline}: {outcome.figures.notifications:,} notifications, "
      f"{len(outcome.figures.integrations):,} integrations -> {outcome.path.name}")
print(f"imports {imported - started:.2f} s, integrations file {loaded - imported:.2f} s, "
      f"report (gather, charts, HTML, store) {done - loaded:.2f} s; total {done - started:.2f} s; "
      f"peak RSS {peak:.0f} MiB (goals: < 10 s, < 500 MiB)")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--integrations", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        engine, names = new_database(tmp, args.integrations)
        now = datetime.now(UTC)
        day = now.date() - timedelta(days=1)
        started = time.perf_counter()
        seed(engine, names, now, days=14, probes_per_integration=1, notifications=0)
        seed_dnb(engine, now, args.notifications, random.Random(3), day=day)
        print(f"seeded {args.notifications:,} notifications on {day} and {len(names):,} integrations "
              f"in {time.perf_counter() - started:.1f}s")
        done = subprocess.run([sys.executable, "-c", MEASURED, str(tmp), day.isoformat()], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip())


if __name__ == "__main__":
    main()
