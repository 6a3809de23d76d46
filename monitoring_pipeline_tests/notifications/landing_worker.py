"""A landing process for kill tests: drains one registration into the project database until D&B is empty.

Usage: python -m monitoring_pipeline_tests.notifications.landing_worker URL DATABASE_URL STATE_DIR REFERENCE
"""

from __future__ import annotations

import sys
from pathlib import Path

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.notifications.landing import land_registration
from monitoring_pipeline.storage.database import create_db_engine


def main(base_url: str, database_url: str, state_dir: str, reference: str) -> None:
    settings = DnbConnectionSettings(
        client_id="test-key",
        client_secret="test-secret-do-not-print",
        base_url=base_url,
        state_dir=Path(state_dir),
        rate_limit_per_second=None,
    )
    engine = create_db_engine(database_url)
    with build_client(settings) as client:
        while True:
            result = land_registration(client, engine, reference, page_size=10)
            if result.exhausted and not result.error:
                return


if __name__ == "__main__":
    main(*sys.argv[1:5])
