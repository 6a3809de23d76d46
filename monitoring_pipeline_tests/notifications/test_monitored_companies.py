"""monitored_companies: dnb_companies kept in step incrementally, equal to a full rebuild, under crashes and races."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis, parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator
from monitoring_pipeline.notifications import monitored_companies
from monitoring_pipeline.notifications.company_state import STATUSES, CompanyState, fold
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.notifications.monitored_companies import company_status_counts, update_companies
from monitoring_pipeline.storage.schema import dnb_companies, dnb_landed_notifications
from monitoring_pipeline_tests.notifications import company_notifications as notes

DUNS, OTHER, REF, SEED_BLOCK, T0 = notes.DUNS, notes.OTHER, notes.REF, notes.SEED_BLOCK, notes.T0
change, transfer, update = notes.change, notes.transfer, notes.update

_clock = iter(range(1, 10**9))


def _stamped(notification: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    moment = at or T0 + timedelta(seconds=next(_clock))
    return {**notification, "deliveryTimeStamp": format_millis(moment)}


def _land(engine: Engine, *notifications: dict[str, Any], reference: str = REF, source: str = "pull") -> None:
    page = NotificationPage(reference=reference, notifications=list(notifications), transaction_id=None, source=source)
    landed = land_page(engine, page)
    assert landed.landed == len(notifications), "test notifications must be unique"


def _snapshot(engine: Engine, *, with_updated_at: bool = False) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(dnb_companies)).mappings().all()
    snapshot = {}
    for row in rows:
        values = dict(row)
        if not with_updated_at:
            values.pop("updated_at")
        values["state"] = None if row["state"] is None else json.loads(row["state"])
        snapshot[(row["reference"], row["duns"])] = values
    return snapshot


def _reference_fold(engine: Engine) -> dict[tuple[str, str], CompanyState]:
    """Every company folded from all its landed notifications in delivery order, in memory."""
    columns = dnb_landed_notifications.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(dnb_landed_notifications).order_by(
                columns.reference, columns.duns, columns.delivery_ts, columns.page_position, columns.id
            )
        ).mappings()
        states: dict[tuple[str, str], CompanyState] = {}
        for row in rows:
            key = (row["reference"], row["duns"])
            states[key] = fold(states.get(key), row)
    return states


def _as_snapshot(states: dict[tuple[str, str], CompanyState]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        key: {
            "reference": s.reference,
            "duns": s.duns,
            "status": s.status,
            "transferred_to": s.transferred_to,
            "state": s.block,
            "last_notification_type": s.last_notification_type,
            "last_delivery_ts": s.last_delivery_ts,
            "last_landed_id": s.last_landed_id,
            "updates_applied": s.updates_applied,
        }
        for key, s in states.items()
    }


def _full_rebuild_snapshot(engine: Engine) -> dict[tuple[str, str], dict[str, Any]]:
    update_companies(engine, full_rebuild=True)
    return _snapshot(engine)


def test_seed_then_updates_land_in_dnb_companies(engine):
    _land(engine, _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}))
    _land(
        engine,
        _stamped(update(change("organization.primaryAddress.postalCode", "EC3"))),
        _stamped(update(change("organization.telephone", []), change("organization.primaryName.x", 1))),
    )

    result = update_companies(engine)

    row = _snapshot(engine)[(REF, DUNS)]
    assert row["state"] == {
        **SEED_BLOCK,
        "primaryAddress": {"postalCode": "EC3", "addressLocality": {"name": "LONDON"}},
        "telephone": [],
    }
    assert (row["status"], row["last_notification_type"], row["updates_applied"], row["last_landed_id"]) == (
        "active",
        "UPDATE",
        2,
        3,
    )
    assert (result.notifications_applied, result.companies_updated, result.companies_recomputed) == (3, 1, 0)
    assert result.problems == 1 and "primaryName.x" in result.problem_examples[0]
    assert result.by_status["active"] == 1 and result.watermark == 3


def test_an_update_before_the_seed_waits_for_it(engine):
    _land(engine, _stamped(update(change("organization.primaryName", "EARLY"))))
    update_companies(engine)
    assert _snapshot(engine)[(REF, DUNS)]["state"] is None

    _land(engine, _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}))
    update_companies(engine)
    row = _snapshot(engine)[(REF, DUNS)]
    assert (row["state"], row["updates_applied"], row["last_notification_type"]) == (SEED_BLOCK, 0, "SEED")


def test_statuses_and_counts_follow_each_company(engine):
    _land(
        engine,
        _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}),
        _stamped({"type": "SEED", "organization": {"duns": OTHER}}),
        _stamped({"type": "SEED", "organization": {"duns": "111111111"}}),
    )
    _land(
        engine,
        _stamped({"type": "DELETE", "organization": {"duns": DUNS}, "elements": []}),
        _stamped(update(change("primaryName", "STILL DELETED"))),
        _stamped(transfer("804735132")),  # deleted, updated while deleted, then transferred
    )
    _land(engine, _stamped({"type": "UNDER_REVIEW", "organization": {"duns": OTHER}, "elements": None}))
    result = update_companies(engine, batch_size=2)

    rows = _snapshot(engine)
    assert (rows[(REF, DUNS)]["status"], rows[(REF, DUNS)]["transferred_to"]) == ("transferred", "804735132")
    assert rows[(REF, DUNS)]["state"]["primaryName"] == "STILL DELETED"
    assert rows[(REF, OTHER)]["status"] == "under_review"
    expected = dict.fromkeys(STATUSES, 0) | {"active": 1, "transferred": 1, "under_review": 1}
    assert result.by_status == expected == company_status_counts(engine)


def test_a_late_landed_older_notification_recomputes_the_company(engine):
    _land(engine, _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}, T0))
    _land(engine, _stamped(update(change("organization.primaryName", "NEWEST")), T0 + timedelta(hours=2)))
    _land(engine, _stamped({"type": "SEED", "organization": {"duns": OTHER}}, T0))
    update_companies(engine)

    # Recovered through Replay after the newer one was folded: it belongs before it.
    _land(
        engine,
        _stamped(
            update(change("organization.primaryName", "OLDER"), change("organization.extra", 1)),
            T0 + timedelta(hours=1),
        ),
        source="replay",
    )
    result = update_companies(engine)

    incremental = _snapshot(engine)
    row = incremental[(REF, DUNS)]
    assert (row["state"]["primaryName"], row["state"]["extra"], row["updates_applied"]) == ("NEWEST", 1, 2)
    assert row["last_delivery_ts"] == T0 + timedelta(hours=2) and row["last_landed_id"] == 4
    assert (result.notifications_applied, result.companies_updated, result.companies_recomputed) == (1, 1, 1)
    assert incremental == _full_rebuild_snapshot(engine) == _as_snapshot(_reference_fold(engine))


def test_running_again_changes_nothing(engine):
    _land(engine, _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}))
    _land(engine, _stamped(update(change("organization.primaryName", "B"))))
    first = update_companies(engine)
    before = _snapshot(engine, with_updated_at=True)

    again = update_companies(engine)

    assert _snapshot(engine, with_updated_at=True) == before
    assert (again.notifications_applied, again.companies_updated, again.watermark) == (0, 0, first.watermark)
    rebuilt = update_companies(engine, full_rebuild=True)
    assert rebuilt.companies_recomputed == 1
    assert _snapshot(engine) == {
        key: {k: v for k, v in row.items() if k != "updated_at"} for key, row in before.items()
    }


def test_a_crash_between_batches_leaves_a_state_the_next_run_completes(engine, monkeypatch):
    notifications = _generated(seed=3, count=300)
    for start in range(0, len(notifications), 40):
        _land(engine, *notifications[start : start + 40])
    real = monitored_companies._fold_window
    calls = iter(range(100))

    def crash_on_third(*args: Any, **kwargs: Any) -> None:
        if next(calls) == 2:
            raise RuntimeError("killed")
        real(*args, **kwargs)

    monkeypatch.setattr(monitored_companies, "_fold_window", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        update_companies(engine, batch_size=50)
    assert 0 < max(row["last_landed_id"] for row in _snapshot(engine).values()) < 300
    monkeypatch.setattr(monitored_companies, "_fold_window", real)

    update_companies(engine, batch_size=50)

    assert _snapshot(engine) == _as_snapshot(_reference_fold(engine)) == _full_rebuild_snapshot(engine)


def test_a_full_rebuild_racing_an_incremental_run_misses_nothing(engine, monkeypatch):
    notifications = _generated(seed=5, count=200)
    _land(engine, *notifications[:100])
    update_companies(engine)
    _land(engine, *notifications[100:])
    update_companies(engine)
    last = max(_generated_duns(5))  # rebuilt in the last batch, after the racing run
    newest = [n for n in notifications if n["organization"]["duns"] == last][-1]
    before_newest = parse_dnb_timestamp(newest["deliveryTimeStamp"]) - timedelta(milliseconds=1)
    racing = [
        _stamped(update(change("organization.primaryName", "RACE"), duns=last)),
        # Older than what `last` already has: the rebuild's catch-up must recompute it.
        _stamped(update(change("organization.race", "late"), duns=last), before_newest),
        _stamped({"type": "SEED", "organization": {"duns": "222222222"}}),
    ]
    real_lock, real_recompute = monitored_companies._lock, monitored_companies._recompute
    locks = iter(range(100))
    racing_now = False
    recomputed: list[list[tuple[str, str]]] = []

    def lock_after_a_racing_run(connection: Any) -> None:
        nonlocal racing_now
        if not racing_now and next(locks) == 1:  # the rebuild's second batch
            racing_now = True
            _land(engine, *racing)
            update_companies(engine)
        real_lock(connection)

    def recompute(connection: Any, keys: list[tuple[str, str]], *args: Any) -> Any:
        recomputed.append(keys)
        return real_recompute(connection, keys, *args)

    monkeypatch.setattr(monitored_companies, "_lock", lock_after_a_racing_run)
    monkeypatch.setattr(monitored_companies, "_recompute", recompute)
    update_companies(engine, full_rebuild=True, batch_size=60)
    monkeypatch.undo()

    assert racing_now
    assert recomputed == [[(REF, last)], [(REF, last)]]  # by the racing run, then by the rebuild's catch-up
    rows = _snapshot(engine)
    if newest["type"] != "SEED":
        assert rows[(REF, last)]["state"]["race"] == "late"
    assert rows[(REF, last)]["state"]["primaryName"] == "RACE" and (REF, "222222222") in rows
    assert rows == _as_snapshot(_reference_fold(engine)) == _full_rebuild_snapshot(engine)


def _generated_duns(seed: int) -> list[str]:
    rng = random.Random(seed)
    return sorted({f"{rng.randrange(10**9):09d}" for _ in range(8)})


def _generated(*, seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` stamped notifications for a few DUNS, every DUNS seeded first, then a realistic mix."""
    generator = NotificationGenerator(seed=seed, seed_block_kb=1)
    duns = _generated_duns(seed)
    mix = {
        "UPDATE": 0.75,
        "SEED": 0.05,
        "DELETE": 0.03,
        "UNDELETE": 0.03,
        "TRANSFER": 0.03,
        "UNDER_REVIEW": 0.03,
        "REVIEWED": 0.03,
        "EXIT": 0.02,
        "ENTER": 0.02,
        "REMOVED": 0.01,
    }
    raw = [generator.make("SEED", d, T0) for d in duns] + generator.generate(count - len(duns), T0, mix, duns)
    return [_stamped(notification) for notification in raw]


def _pages(notifications: list[dict[str, Any]], rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    start = 0
    while start < len(notifications):
        size = rng.randint(1, 60)
        yield notifications[start : start + size]
        start += size


def test_generated_notifications_end_the_same_incrementally_and_rebuilt(engine):
    rng = random.Random(11)
    streams = {reference: _generated(seed=seed, count=1500) for reference, seed in (("GEN_A", 1), ("GEN_B", 2))}
    held_back: list[tuple[str, list[dict[str, Any]]]] = []
    runs = []
    for index, (reference, page) in enumerate(
        (reference, page) for reference, stream in streams.items() for page in _pages(stream, rng)
    ):
        if index % 9 == 4:
            held_back.append((reference, page))  # a lost Pull response, recovered later by Replay
        else:
            _land(engine, *page, reference=reference)
        if index % 5 == 0:
            runs.append(update_companies(engine, batch_size=rng.choice([7, 97, 1000])))
        if index % 13 == 12 and held_back:
            late_reference, late_page = held_back.pop(0)
            _land(engine, *late_page, reference=late_reference, source="replay")
    for reference, page in held_back:
        _land(engine, *page, reference=reference, source="replay")
    runs.append(update_companies(engine, batch_size=97))

    incremental = _snapshot(engine)
    assert sum(run.notifications_applied for run in runs) == 3000
    assert sum(run.companies_recomputed for run in runs) > 0
    assert len(incremental) == 16 and all(row["state"] is not None for row in incremental.values())
    assert sum(row["updates_applied"] for row in incremental.values()) > 100
    assert incremental == _as_snapshot(_reference_fold(engine))

    rebuilt = update_companies(engine, full_rebuild=True, batch_size=250)
    assert _snapshot(engine) == incremental
    assert (rebuilt.notifications_applied, rebuilt.companies_recomputed, rebuilt.companies_updated) == (3000, 16, 16)
    assert rebuilt.by_status == company_status_counts(engine) and sum(rebuilt.by_status.values()) == 16

    with engine.begin() as connection:
        connection.execute(delete(dnb_companies))
    update_companies(engine, batch_size=1000)  # a first run over the whole history
    assert _snapshot(engine) == incremental


def test_concurrent_runs_fold_each_notification_once(engine):
    notifications = _generated(seed=9, count=600)
    for start in range(0, len(notifications), 50):
        _land(engine, *notifications[start : start + 50])

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: update_companies(engine, batch_size=25), range(3)))

    assert sum(result.notifications_applied for result in results) == 600
    assert _snapshot(engine) == _as_snapshot(_reference_fold(engine))


def test_a_full_rebuild_drops_companies_without_notifications(engine):
    _land(engine, _stamped({"type": "SEED", "organization": copy.deepcopy(SEED_BLOCK)}))
    update_companies(engine)
    stray = {**_snapshot(engine, with_updated_at=True)[(REF, DUNS)], "duns": OTHER, "state": "{}", "last_landed_id": 0}
    with engine.begin() as connection:
        connection.execute(dnb_companies.insert().values(**stray))

    update_companies(engine, full_rebuild=True)

    assert list(_snapshot(engine)) == [(REF, DUNS)]


def test_batch_size_must_be_positive(sqlite_engine):
    with pytest.raises(ValueError, match="batch_size"):
        update_companies(sqlite_engine, batch_size=0)
