"""`dagster-daemon` as the tests start it: Dagster's own daemon, its backfill loop looking every few seconds.

Dagster's backfill daemon sleeps a fixed 30 s between iterations (``DEFAULT_DAEMON_INTERVAL_SECONDS``, no instance
setting), and an asset backfill needs several iterations (submit the runs, see them finish, mark the backfill done):
a three-day backfill would wait minutes on that sleep alone. What each iteration does is unchanged.

Usage: ``python monitoring_pipeline_tests/dagster_daemon.py run [dagster-daemon arguments]`` (a file: it runs from
any working directory, the tests package need not be importable there).
"""

from __future__ import annotations

import os
import sys

BACKFILL_INTERVAL_VARIABLE = "MONITORING_PIPELINE_TEST_BACKFILL_INTERVAL_SECONDS"
BACKFILL_INTERVAL_SECONDS = 3.0


def command(*arguments: str) -> list[str]:
    """The argv that starts the daemon with ``arguments`` (``run``, ``-m module``, ``-w workspace.yaml``...)."""
    return [sys.executable, __file__, *arguments]


def main() -> int:
    from dagster._daemon import controller
    from dagster._daemon.cli import main as dagster_daemon

    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = float(  # read by the backfill loop on each start
        os.environ.get(BACKFILL_INTERVAL_VARIABLE, BACKFILL_INTERVAL_SECONDS))
    sys.argv[0] = "dagster-daemon"
    return dagster_daemon()


if __name__ == "__main__":
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # run as a file: the tests' folders (alerting, ops, storage...) must not shadow modules
    sys.exit(main())
