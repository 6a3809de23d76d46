"""``dnb_companies``, the monitored_companies asset's table, kept in step with the landed notifications.

Each company is folded by :func:`~monitoring_pipeline.notifications.company_state.fold`;
``update_companies`` keeps the table in step incrementally, with a lock per transaction and a watermark: the
highest ``last_landed_id`` there, which is only sound if every committed transaction has folded *every*
landed row up to it. So the incremental work advances in windows of ``batch_size`` landed ids, one
transaction each, and inside a window streams the rows company by company. A crash therefore leaves a
consistent prefix that the next run continues from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Engine, delete, false, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from monitoring_pipeline.notifications.company_state import STATUSES, CompanyState, fold
from monitoring_pipeline.notifications.snapshots import take_snapshot
from monitoring_pipeline.storage.schema import dnb_companies, dnb_landed_notifications

__all__ = ["CompanyUpdateResult", "company_status_counts", "update_companies"]

# Serialises writers of dnb_companies across processes on PostgreSQL (arbitrary constant, "MPCO").
_LOCK_KEY = 0x4D50434F
_STREAM_ROWS = 200  # rows fetched per round trip; SEED payloads are tens of KB each
_WRITE_ROWS = 50  # companies per upsert statement...
_WRITE_BYTES = 4 * 1024 * 1024  # ...or fewer when their blocks are big
_KEYS_PER_QUERY = 500
_PROBLEM_EXAMPLES = 5
_COMPACT = (",", ":")

_L = dnb_landed_notifications.c
_C = dnb_companies.c
_ROW_COLUMNS = (_L.id, _L.reference, _L.duns, _L.notification_type, _L.delivery_ts, _L.page_position, _L.payload)
_COMPANY_ORDER = (_L.reference, _L.duns, _L.delivery_ts, _L.page_position, _L.id)
_DELIVERY_ORDER = (_L.delivery_ts, _L.page_position, _L.id)


@dataclass
class CompanyUpdateResult:
    """What one ``update_companies`` call did, for run metadata."""

    notifications_applied: int = 0  # landed notifications newly folded (a full rebuild: all of them)
    companies_updated: int = 0  # companies whose row now reflects notifications of this run
    companies_recomputed: int = 0  # companies rebuilt from all their notifications (late data, full rebuild)
    by_status: dict[str, int] = field(default_factory=dict)
    problems: int = 0
    problem_examples: list[str] = field(default_factory=list)
    watermark: int = 0  # highest landed id folded after this run


class _Problems:
    """Counts problems of the rows this run is about; re-folds of older rows do not count twice."""

    def __init__(self, result: CompanyUpdateResult, count_after_id: int) -> None:
        self._result = result
        self._after = count_after_id
        self.pending: list[str] = []  # handed to fold() for one row

    def take(self, row: Mapping[str, Any]) -> None:
        if not self.pending:
            return
        if row["id"] > self._after:
            for message in self.pending:
                self._result.problems += 1
                if len(self._result.problem_examples) < _PROBLEM_EXAMPLES:
                    self._result.problem_examples.append(
                        f"{row['reference']}/{row['duns']} landed #{row['id']}: {message}"
                    )
        self.pending.clear()


def update_companies(engine: Engine, *, full_rebuild: bool = False, batch_size: int = 1000) -> CompanyUpdateResult:
    """Fold newly landed notifications into ``dnb_companies``; ``full_rebuild`` recomputes every company.

    ``batch_size`` is the number of landed notifications per transaction. Safe to re-run after a crash
    and alongside another call (writers take a lock per transaction and re-check the watermark).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    result = CompanyUpdateResult()
    high = take_snapshot(engine).landed_up_to or 0
    with engine.connect() as connection:
        start = _watermark(connection)
    problems = _Problems(result, count_after_id=0 if full_rebuild else start)

    known = start
    if full_rebuild:
        known = _rebuild_prefix(engine, min(start, high), batch_size, result, problems)
    while True:
        with engine.begin() as connection:
            _lock(connection)
            known = _confirm_watermark(connection, known)
            if known >= high:
                break
            upper = _window_end(connection, known, high, batch_size)
            _fold_window(connection, known, upper, result, problems)
        known = upper

    if full_rebuild or known > start:
        query = select(func.count()).select_from(dnb_companies)
        if not full_rebuild:
            query = query.where(_C.last_landed_id > start)
        with engine.connect() as connection:
            result.companies_updated = int(connection.execute(query).scalar_one())
    result.watermark = known
    result.by_status = company_status_counts(engine)
    return result


def company_status_counts(engine: Engine) -> dict[str, int]:
    """Number of companies per status, every known status present (zero when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    with engine.connect() as connection:
        for status, count in connection.execute(select(_C.status, func.count()).group_by(_C.status)):
            counts[status] = int(count)
    return counts


def _fold_window(connection: Connection, low: int, high: int, result: CompanyUpdateResult, problems: _Problems) -> None:
    """Fold landed ids ``(low, high]`` onto the stored states; companies hit by older data are recomputed."""
    writer = _Writer(connection)
    late: list[tuple[str, str]] = []
    rows = _stream(connection, select(*_ROW_COLUMNS).where(_L.id > low, _L.id <= high).order_by(*_COMPANY_ORDER))
    for key, group in groupby(rows, key=_company_key):
        first = next(group)
        stored = _load(connection, key)
        if stored is not None and _is_late(first, stored):
            # Landed late (Replay): it belongs before what is folded already. Equal instants are
            # ambiguous across pages, so they recompute too.
            late.append(key)
            result.notifications_applied += 1 + sum(1 for _ in group)
            continue
        state = stored
        for row in _chain(first, group):
            state = fold(state, row, problems=problems.pending)
            problems.take(row)
            result.notifications_applied += 1
        assert state is not None
        writer.put(state)
    writer.flush()
    for start in range(0, len(late), _KEYS_PER_QUERY):
        for state in _recompute(connection, late[start : start + _KEYS_PER_QUERY], high, problems):
            writer.put(state)
            result.companies_recomputed += 1
    writer.flush()


def _is_late(row: Mapping[str, Any], state: CompanyState) -> bool:
    return state.last_delivery_ts is not None and row["delivery_ts"] <= state.last_delivery_ts


def _recompute(
    connection: Connection, keys: list[tuple[str, str]], high: int, problems: _Problems
) -> Iterator[CompanyState]:
    """Each of ``keys`` folded from scratch over its landed ids up to ``high``, one at a time."""
    query = (
        select(*_ROW_COLUMNS).where(tuple_(_L.reference, _L.duns).in_(keys), _L.id <= high).order_by(*_COMPANY_ORDER)
    )
    for _, group in groupby(_stream(connection, query), key=_company_key):
        state: CompanyState | None = None
        for row in group:
            state = fold(state, row, problems=problems.pending)
            problems.take(row)
        assert state is not None
        yield state


def _rebuild_prefix(
    engine: Engine, prefix: int, batch_size: int, result: CompanyUpdateResult, problems: _Problems
) -> int:
    """Recompute every company from its landed ids up to ``prefix`` (the watermark when we started).

    Companies are rewritten in place rather than deleted first: a crash then leaves every company
    consistent with the watermark, whereas a half-refilled empty table would let the next incremental
    run skip the companies not yet refilled. Returns the watermark when done (another run may move it).
    """
    seen: set[tuple[str, str]] = set()
    known = prefix
    with engine.connect() as reader:
        rows = _stream(reader, select(*_ROW_COLUMNS).where(_L.id <= prefix).order_by(*_COMPANY_ORDER))
        groups = groupby(rows, key=_company_key)
        while True:
            with engine.begin() as connection:
                _lock(connection)
                known = _confirm_watermark(connection, known)
                writer = _Writer(connection)
                pending_rows = 0
                for key, group in groups:
                    state: CompanyState | None = None
                    for row in group:
                        state = fold(state, row, problems=problems.pending)
                        problems.take(row)
                        pending_rows += 1
                    assert state is not None
                    if known > prefix:
                        state = _catch_up(connection, state, prefix, known, problems)
                    writer.put(state)
                    seen.add(key)
                    result.companies_recomputed += 1
                    if pending_rows >= batch_size:
                        break
                writer.flush()
                result.notifications_applied += pending_rows
                if pending_rows < batch_size:
                    _delete_unseen(connection, seen, prefix)
                    return known


def _catch_up(connection: Connection, state: CompanyState, low: int, high: int, problems: _Problems) -> CompanyState:
    """Bring a company rebuilt up to ``low`` level with a watermark another run moved to ``high``."""
    where = (_L.reference == state.reference, _L.duns == state.duns)
    query = select(*_ROW_COLUMNS).where(*where, _L.id > low, _L.id <= high).order_by(*_DELIVERY_ORDER)
    rows = list(connection.execute(query).mappings())
    if not rows:
        return state
    if _is_late(rows[0], state):
        return next(_recompute(connection, [(state.reference, state.duns)], high, problems))
    for row in rows:
        state = fold(state, row, problems=problems.pending)
        problems.take(row)
    return state


def _delete_unseen(connection: Connection, seen: set[tuple[str, str]], prefix: int) -> None:
    """Drop companies without landed notifications up to ``prefix`` (newer ones belong to another run)."""
    stored = connection.execute(select(_C.reference, _C.duns).where(_C.last_landed_id <= prefix)).all()
    unseen = [(row.reference, row.duns) for row in stored if (row.reference, row.duns) not in seen]
    for start in range(0, len(unseen), _KEYS_PER_QUERY):
        chunk = unseen[start : start + _KEYS_PER_QUERY]
        connection.execute(delete(dnb_companies).where(tuple_(_C.reference, _C.duns).in_(chunk)))


def _watermark(connection: Connection) -> int:
    return int(connection.execute(select(func.coalesce(func.max(_C.last_landed_id), 0))).scalar_one())


def _confirm_watermark(connection: Connection, known: int) -> int:
    """``known`` if no other run folded past it, else the new watermark; cheap in the common case.

    Anyone who moved the watermark folded every landed row up to it, so in particular the first one
    after ``known``: its company tells us without scanning ``dnb_companies``.
    """
    following = connection.execute(
        select(_L.id, _L.reference, _L.duns).where(_L.id > known).order_by(_L.id).limit(1)
    ).first()
    if following is None:
        return known
    folded = connection.execute(
        select(_C.last_landed_id).where(_C.reference == following.reference, _C.duns == following.duns)
    ).scalar_one_or_none()
    return _watermark(connection) if folded is not None and folded >= following.id else known


def _window_end(connection: Connection, low: int, high: int, batch_size: int) -> int:
    # Ids have gaps (PostgreSQL burns sequence values on duplicates), so count rows, not ids.
    end = connection.execute(
        select(_L.id).where(_L.id > low, _L.id <= high).order_by(_L.id).offset(batch_size - 1).limit(1)
    ).scalar_one_or_none()
    return high if end is None else int(end)


def _lock(connection: Connection) -> None:
    """Take the write lock for this transaction: one writer of ``dnb_companies`` at a time."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:
        # A write that matches nothing still takes SQLite's write lock, waiting out busy_timeout.
        connection.execute(update(dnb_companies).where(false()).values(status=_C.status))


def _stream(connection: Connection, query: Any) -> Iterator[Mapping[str, Any]]:
    # Per statement: Connection.execution_options() would switch the whole connection to streaming.
    return iter(connection.execute(query.execution_options(yield_per=_STREAM_ROWS)).mappings())


def _company_key(row: Mapping[str, Any]) -> tuple[str, str]:
    return row["reference"], row["duns"]


def _chain(first: Mapping[str, Any], rest: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    yield first
    yield from rest


def _load(connection: Connection, key: tuple[str, str]) -> CompanyState | None:
    row = connection.execute(select(dnb_companies).where(_C.reference == key[0], _C.duns == key[1])).mappings().first()
    if row is None:
        return None
    return CompanyState(
        reference=row["reference"],
        duns=row["duns"],
        status=row["status"],
        transferred_to=row["transferred_to"],
        block=None if row["state"] is None else json.loads(row["state"]),
        last_notification_type=row["last_notification_type"],
        last_delivery_ts=row["last_delivery_ts"],
        last_landed_id=int(row["last_landed_id"]),
        updates_applied=int(row["updates_applied"]),
    )


class _Writer:
    """Upserts company rows in small groups: few round trips, bounded memory."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(dnb_companies)
        self._statement = insert.on_conflict_do_update(
            index_elements=[_C.reference, _C.duns],
            set_={column.name: insert.excluded[column.name] for column in dnb_companies.c if not column.primary_key},
        )

    def put(self, state: CompanyState) -> None:
        block = None if state.block is None else json.dumps(state.block, ensure_ascii=False, separators=_COMPACT)
        self._rows.append(
            {
                "reference": state.reference,
                "duns": state.duns,
                "status": state.status,
                "transferred_to": state.transferred_to,
                "state": block,
                "last_notification_type": state.last_notification_type,
                "last_delivery_ts": state.last_delivery_ts,
                "last_landed_id": state.last_landed_id,
                "updates_applied": state.updates_applied,
                "updated_at": datetime.now(UTC),
            }
        )
        self._bytes += len(block or "")
        if len(self._rows) >= _WRITE_ROWS or self._bytes >= _WRITE_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._connection.execute(self._statement, self._rows)
            self._rows = []
            self._bytes = 0
