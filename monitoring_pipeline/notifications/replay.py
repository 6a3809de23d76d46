"""Backfill is replay: re-fetch a day's deliveries through the Replay API and land what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine

from monitoring_pipeline.dnb.client import DnbClient
from monitoring_pipeline.dnb.errors import DnbRequestError
from monitoring_pipeline.notifications.landing import ensure_status_row, land_page

REPLAY_WINDOW = timedelta(days=14)
# Stay clear of the window's edge: our clock and D&B's differ a little, and the replay takes time.
_WINDOW_MARGIN = timedelta(minutes=10)


@dataclass
class DayReplay:
    """What replaying one day brought back; ``coverage`` is full, partial or outside (older than 14 days)."""

    day: date
    coverage: str = "full"
    replayed: int = 0  # notifications D&B returned
    recovered: int = 0  # of which were missing from our store
    quarantined: int = 0


def replay_day(client: DnbClient, engine: Engine, references: list[str], day: date,
               now: datetime | None = None) -> DayReplay:
    """Replay ``[day 00:00, next day 00:00)`` UTC for every reference, landing what is missing."""
    result = DayReplay(day)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    now = now or client.last_server_time or datetime.now(UTC)
    earliest = now - REPLAY_WINDOW + _WINDOW_MARGIN
    if end <= earliest:
        result.coverage = "outside"
        return result
    if start < earliest:
        result.coverage = "partial"
        start = earliest
    for reference in references:
        ensure_status_row(engine, reference)
        try:
            for page in client.replay_window(reference, start, end):
                landing = land_page(engine, page)
                result.replayed += len(page)
                result.recovered += landing.landed
                result.quarantined += landing.quarantined
        except DnbRequestError as error:
            if error.error_code != "10002":
                raise
            # D&B's clock put (part of) the day outside its window after all.
            result.coverage = "partial"
    return result
