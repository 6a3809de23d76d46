"""Which remote destination days to copy again, and when: a destination that was down catches up by itself.

A day lags when a local file is missing from the destination's manifest or was copied from an older
version (``sync.lagging_days``). Each lagging day is retried with exponential backoff (5 minutes doubling
up to an hour) so a destination that stays down is not hammered, and forgotten as soon as it is in step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine

from monitoring_pipeline.destinations.sync import DestinationFormat, lagging_days
from monitoring_pipeline.retry import Backoff

# 5 minutes doubling up to an hour. Without jitter: the wait is computed again from the cursor at every evaluation,
# so it must not change between them.
CATCH_UP_BACKOFF = Backoff(initial_seconds=300.0, max_seconds=3600.0, jitter=False)
MAX_REQUESTS_PER_EVALUATION = 20


@dataclass(frozen=True)
class CatchUpTarget:
    """What the catch-up needs of one destination: its name, what it takes, how far back to look."""

    name: str
    target: DestinationFormat
    lookback_days: int


@dataclass(frozen=True)
class CatchUp:
    destination: str
    day: date
    attempt: int  # 1 for the first request of this lag


def _key(destination: str, day: date) -> str:
    return f"{destination}/{day.isoformat()}"


def plan_catch_ups(
    engine: Engine,
    destinations: Mapping[str, CatchUpTarget],
    today: date,
    cursor: str | None,
    now: float,
) -> tuple[list[CatchUp], str]:
    """The (destination, day) copies due now, newest day first, and the new cursor.

    ``today`` is left out: the landing sensor's runs copy the day that is still receiving notifications.
    The cursor holds ``{"<destination>/<day>": [last requested (epoch s), attempts]}`` for lagging days only.
    """
    attempts: dict[str, list[float]] = json.loads(cursor) if cursor else {}
    due: list[CatchUp] = []
    kept: dict[str, list[float]] = {}
    for destination in destinations.values():
        if destination.lookback_days <= 0:
            continue
        since = today - timedelta(days=destination.lookback_days)
        for day in reversed(lagging_days(engine, destination.name, destination.target, since, today)):
            key = _key(destination.name, day)
            requested_at, tries = attempts.get(key, [0.0, 0])
            wait = CATCH_UP_BACKOFF.delay(int(tries)) if tries else 0.0
            if now - requested_at >= wait and len(due) < MAX_REQUESTS_PER_EVALUATION:
                due.append(CatchUp(destination.name, day, int(tries) + 1))
                kept[key] = [now, int(tries) + 1]
            else:
                kept[key] = [requested_at, int(tries)]
    return due, json.dumps(kept, sort_keys=True)
