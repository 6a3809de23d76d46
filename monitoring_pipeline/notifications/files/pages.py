"""The day's pages in the landed store: one group per registration and delivery millisecond (one Pull page).

A page's files hold every notification landed for it; a run selects the pages its snapshot reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select, tuple_

from monitoring_pipeline.notifications.snapshots import EVERYTHING, Snapshot
from monitoring_pipeline.storage.schema import dnb_landed_notifications

_YIELD_PER = 2_000
_GROUPS_PER_QUERY = 200  # keeps bind parameters well under SQLite's limit
_t = dnb_landed_notifications.c


class Page(NamedTuple):
    """One page of one registration as the aggregate query sees it."""

    reference: str
    instant: datetime  # the deliveryTimeStamp at millisecond precision: names the files
    exact: tuple[datetime, ...]  # stored values falling in that millisecond (normally one)
    count: int  # notifications landed for the page so far
    in_snapshot: int  # of which inside the run's snapshot

    @property
    def beyond_snapshot(self) -> bool:
        """Landed entirely after the snapshot: the next run's page."""
        return self.in_snapshot == 0

    @property
    def complete_in_snapshot(self) -> bool:
        return self.in_snapshot == self.count


def to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def day_pages(engine: Engine, day: date, snapshot: Snapshot = EVERYTHING) -> list[Page]:
    """The day's pages with their notification counts: aggregate queries, no payloads.

    All counts come from the day's index alone; what landed after the snapshot (a few rows, found through the
    primary key) is counted apart, so the day's rows are never read.
    """
    grouped = (_t.reference, _t.delivery_ts)
    statement = select(*grouped, func.count()).where(_t.delivery_day == day).group_by(*grouped).order_by(*grouped)
    with engine.connect() as connection:
        counted = connection.execute(statement).all()
        later: dict[tuple[str, datetime], int] = {}
        # Read second: a row landing in between can only be counted as later (judged less), never as inside.
        if snapshot.landed_up_to is not None:
            later = {
                (reference, delivered): count
                for reference, delivered, count in connection.execute(
                    select(*grouped, func.count())
                    .where(_t.id > snapshot.landed_up_to, _t.delivery_day == day)
                    .group_by(*grouped)
                )
            }
    pages: list[Page] = []
    for (reference, instant), members in groupby(counted, key=lambda r: (r[0], to_millis(r[1]))):
        parts = list(members)
        count = sum(p[2] for p in parts)
        beyond = sum(later.get((p[0], p[1]), 0) for p in parts)
        pages.append(Page(reference, instant, tuple(p[1] for p in parts), count, max(count - beyond, 0)))
    return pages


def stream_pages(
    engine: Engine, day: date, selected: list[Page] | None
) -> Iterator[tuple[str, datetime, list[Any]]]:
    """Yield (reference, instant, rows in file order) for the whole day or only ``selected`` pages.

    Rows are streamed; only one page is held in memory at a time.
    """
    statement = (
        select(
            _t.id,
            _t.reference,
            _t.delivery_ts,
            _t.page_position,
            _t.notification_key,
            _t.duns,
            _t.notification_type,
            _t.payload,
        )
        .where(_t.delivery_day == day)
        .order_by(_t.reference, _t.delivery_ts, _t.page_position, _t.notification_key)
    )
    if selected is None:
        statements = [statement]
    else:
        statements = [
            statement.where(
                tuple_(_t.reference, _t.delivery_ts).in_([(p.reference, exact) for p in chunk for exact in p.exact])
            )
            for chunk in _chunks(selected, _GROUPS_PER_QUERY)
        ]
    with engine.connect() as connection:
        streaming = connection.execution_options(yield_per=_YIELD_PER)
        for chunk_statement in statements:
            result = streaming.execute(chunk_statement)
            for (reference, instant), members in groupby(
                result, key=lambda r: (r.reference, to_millis(r.delivery_ts))
            ):
                # Sub-millisecond instants share one file; order it by page position as for a single page.
                yield reference, instant, sorted(members, key=lambda r: (r.page_position, r.notification_key))


def _chunks(items: list[Page], size: int) -> Iterator[list[Page]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
