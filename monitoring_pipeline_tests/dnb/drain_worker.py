"""A separate process that drains or replays one registration and writes the keys it got (multi-process tests).

Usage: python -m monitoring_pipeline_tests.dnb.drain_worker URL STATE_DIR REFERENCE drain|replay OUT [DATABASE_URL]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client


def main(argv: list[str]) -> None:
    base_url, state_dir, reference, mode, out = argv[:5]
    database_url = argv[5] if len(argv) > 5 else None
    settings = DnbConnectionSettings(
        client_id="test-key",
        client_secret="test-secret-do-not-print",
        base_url=base_url,
        state_dir=Path(state_dir),
        database_url=database_url,
    )
    keys: list[str] = []
    with build_client(settings) as client:
        if mode == "drain":
            pages = client.drain(reference, page_size=50)
        else:
            pages = client.replay_window(reference, datetime.now(UTC) - timedelta(hours=1), page_size=50)
        for page in pages:
            keys.extend(page.keys)
        stats = {"calls": client.stats.calls, "responses_429": client.stats.responses_429}
    Path(out).write_text(json.dumps({"keys": keys, "stats": stats}))


if __name__ == "__main__":
    main(sys.argv[1:])
