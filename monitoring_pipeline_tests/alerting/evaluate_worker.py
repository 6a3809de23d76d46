"""A separate process that evaluates the alert engine once; with --crash it prints the idempotency keys it decided
and SIGKILLs itself just before the commit (between the decisions and their record)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from monitoring_pipeline.alerting.config import load_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.storage.database import create_db_engine
from monitoring_pipeline.storage.schema import alert_outbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("config")
    parser.add_argument("now")
    parser.add_argument("--crash", action="store_true")
    args = parser.parse_args()
    engine = create_db_engine(args.url)
    alert_engine = AlertEngine(engine, load_alerting(Path(args.config)))

    def die(connection) -> None:  # type: ignore[no-untyped-def]
        keys = connection.execute(select(alert_outbox.c.idempotency_key).order_by(alert_outbox.c.id)).scalars()
        print("\n".join(keys), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    report = alert_engine.evaluate(now=datetime.fromisoformat(args.now), before_commit=die if args.crash else None)
    print(report.summary(), file=sys.stderr)


if __name__ == "__main__":
    main()
