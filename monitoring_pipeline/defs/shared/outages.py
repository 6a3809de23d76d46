"""Sensor ticks that survive a project database outage, as they survive a D&B outage.

A database that refuses connections, drops them, restarts, or whose SQLite file cannot be reached, makes the
tick do nothing: one clear line (no traceback) in the log and as the tick's skip reason, counted in the cursor,
and the same work retried next tick. Nothing is lost: landing resumes from its stored cursor and replays.
Every sensor of the project runs its tick through :func:`survive_database_outage`, which also shows the project's
warnings of the tick (the D&B client's retries, for one) in the tick's log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
from sqlalchemy import exc

from monitoring_pipeline.logs import forward_project_logs

TickResult = dg.SensorResult | dg.SkipReason

# The cursor as the helper stores it: the sensor's own cursor, and the outage counts.
_TICK = "tick"
_OUTAGES = "database_outages"


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` means the project database could not be reached or dropped the connection (as opposed
    to a bug or bad data, which must fail loudly)."""
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def describe_outage(error: BaseException) -> str:
    """One line naming the failure, without SQL, parameters or a traceback (the driver's first line says what
    happened: connection refused, server closed the connection, unable to open database file...)."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0].strip()
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


@dataclass
class OutageCount:
    consecutive: int = 0  # ticks in a row that found the database unreachable
    total: int = 0  # over the sensor's life


def split_cursor(cursor: str | None) -> tuple[str | None, OutageCount]:
    """(the sensor's own cursor, the outage counts) from a stored cursor; a sensor's older plain cursor is its own."""
    if cursor:
        try:
            stored = json.loads(cursor)
        except ValueError:
            stored = None
        if isinstance(stored, dict) and set(stored) == {_TICK, _OUTAGES}:
            counts = stored[_OUTAGES]
            return stored[_TICK], OutageCount(int(counts.get("consecutive", 0)), int(counts.get("total", 0)))
    return cursor, OutageCount()


def join_cursor(tick_cursor: str | None, outages: OutageCount) -> str | None:
    """The cursor to store: the sensor's own, wrapped with the counts once the sensor has seen an outage."""
    if not outages.total:
        return tick_cursor
    return json.dumps({_TICK: tick_cursor, _OUTAGES: {"consecutive": outages.consecutive, "total": outages.total}},
                      sort_keys=True)


def survive_database_outage(
    context: dg.SensorEvaluationContext, tick: Callable[[str | None], TickResult]
) -> dg.SensorResult:
    """Run ``tick`` with the sensor's own cursor; a database outage becomes a skipped tick, reported and counted.

    ``tick`` receives and returns the sensor's own cursor (in its ``SensorResult``); the stored cursor wraps it
    with the outage counts.
    """
    own_cursor, outages = split_cursor(context.cursor)
    try:
        with forward_project_logs(context.log):  # e.g. the D&B client's retries, shown with the tick
            result = tick(own_cursor)
    except Exception as error:
        if not is_database_outage(error):
            raise
        outages = OutageCount(outages.consecutive + 1, outages.total + 1)
        message = (f"project database unavailable ({describe_outage(error)}): nothing done this tick, retried next "
                   f"tick ({outages.consecutive} in a row, {outages.total} in all)")
        context.log.warning(message)
        return dg.SensorResult(skip_reason=message, cursor=join_cursor(own_cursor, outages))
    if outages.consecutive:
        context.log.info("project database available again after %d skipped tick(s)", outages.consecutive)
    recovered = OutageCount(0, outages.total)
    if isinstance(result, dg.SkipReason):
        return dg.SensorResult(skip_reason=result, cursor=join_cursor(own_cursor, recovered))
    kept = own_cursor if result.cursor is None else result.cursor
    return result._replace(cursor=join_cursor(kept, recovered))


def without_outage_failure(what: str, action: Callable[[], Any], log: logging.Logger | Any = None) -> Any:
    """Run ``action`` (bookkeeping such as a resource's teardown); during a database outage log one line and
    return None instead of failing: the run or tick has done its work, the outage is reported where it matters."""
    try:
        return action()
    except Exception as error:
        if not is_database_outage(error):
            raise
        (log or logging.getLogger(__name__)).warning("%s skipped: project database unavailable (%s)", what,
                                                     describe_outage(error))
        return None
