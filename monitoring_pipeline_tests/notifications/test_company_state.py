"""Company state: dotted-path changes, status transitions, and incremental folding equal to a full rebuild."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis, parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator
from monitoring_pipeline.notifications import company_state
from monitoring_pipeline.notifications.company_state import (
    STATUSES,
    CompanyState,
    apply_change,
    company_status_counts,
    fold,
    next_status,
    update_companies,
)
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.storage.schema import dnb_companies, dnb_landed_notifications

REF = "COMPANY_STATE"
DUNS = "213310873"
OTHER = "001017545"
T0 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)

# --------------------------------------------------------------------------------------------------
# apply_change
# --------------------------------------------------------------------------------------------------

PHONES = {"telephone": [{"telephoneNumber": "1"}, {"telephoneNumber": "2"}], "primaryName": "ACME"}

APPLIED = [
    ("scalar", {"primaryName": "A"}, "organization.primaryName", "B", {"primaryName": "B"}),
    ("new member", {}, "organization.primaryName", "B", {"primaryName": "B"}),
    (
        "nested objects are created",
        {"duns": DUNS},
        "organization.primaryAddress.postalCode",
        "EC2V 7HH",
        {"duns": DUNS, "primaryAddress": {"postalCode": "EC2V 7HH"}},
    ),
    (
        "siblings are kept",
        {"primaryAddress": {"postalCode": "X", "addressLocality": {"name": "LEEDS"}}},
        "organization.primaryAddress.postalCode",
        "LS1",
        {"primaryAddress": {"postalCode": "LS1", "addressLocality": {"name": "LEEDS"}}},
    ),
    (
        "a null on the way becomes an object",
        {"mailingAddress": None},
        "organization.mailingAddress.postalCode",
        "M2",
        {"mailingAddress": {"postalCode": "M2"}},
    ),
    (
        "an array is replaced",
        dict(PHONES),
        "organization.telephone",
        [{"telephoneNumber": "3"}],
        {**PHONES, "telephone": [{"telephoneNumber": "3"}]},
    ),
    ("an array is emptied", dict(PHONES), "organization.telephone", [], {**PHONES, "telephone": []}),
    ("null is set, not deleted", dict(PHONES), "organization.telephone", None, {**PHONES, "telephone": None}),
    (
        "an object replaces a scalar",
        {"numberOfEmployees": 4},
        "organization.numberOfEmployees",
        [{"value": 5}],
        {"numberOfEmployees": [{"value": 5}]},
    ),
    (
        "a list index reaches into an item",
        copy.deepcopy(PHONES),
        "organization.telephone.1.telephoneNumber",
        "22",
        {**PHONES, "telephone": [{"telephoneNumber": "1"}, {"telephoneNumber": "22"}]},
    ),
    (
        "a list index replaces an item",
        copy.deepcopy(PHONES),
        "organization.telephone.0",
        {"telephoneNumber": "11"},
        {**PHONES, "telephone": [{"telephoneNumber": "11"}, {"telephoneNumber": "2"}]},
    ),
    (
        "a null list item becomes an object",
        {"fax": [None]},
        "organization.fax.0.number",
        "9",
        {"fax": [{"number": "9"}]},
    ),
    (
        "a path without organization. starts at the root",
        {},
        "dnbAssessment.rating",
        "5A2",
        {"dnbAssessment": {"rating": "5A2"}},
    ),
    ("a numeric segment in an object is a key", {"codes": {}}, "organization.codes.0", "x", {"codes": {"0": "x"}}),
    ("organization alone replaces the block", {"duns": DUNS, "old": 1}, "organization", {"duns": DUNS}, {"duns": DUNS}),
]


@pytest.mark.parametrize(
    ("block", "element", "current", "expected"), [case[1:] for case in APPLIED], ids=[c[0] for c in APPLIED]
)
def test_apply_change_sets_the_dotted_path(block, element, current, expected):
    block = copy.deepcopy(block)

    assert apply_change(block, element, current) is None
    assert block == expected


REPORTED = [
    ("crosses a string", dict(PHONES), "organization.primaryName.first", "A", "crosses a str at primaryName"),
    ("crosses a number", {"n": 4}, "organization.n.value", 5, "crosses a int at n"),
    ("crosses a boolean", {"isAgent": True}, "organization.isAgent.x", 1, "crosses a bool"),
    ("index past the end on the way", PHONES, "organization.telephone.5.telephoneNumber", "x", "no item '5'"),
    ("index past the end at the end (no extending)", PHONES, "organization.telephone.2", {"a": 1}, "no item '2'"),
    ("a name where a list index is needed", PHONES, "organization.telephone.first", "x", "no item 'first'"),
    ("a negative index", PHONES, "organization.telephone.-1", "x", "no item '-1'"),
    ("an empty segment", PHONES, "organization..primaryName", "x", "empty path segment"),
    ("an empty path", PHONES, "", "x", "non-empty string"),
    ("not a string", PHONES, None, "x", "non-empty string"),
    ("the whole block from a non-object", PHONES, "organization", [], "only be replaced by an object"),
]


@pytest.mark.parametrize(
    ("block", "element", "current", "problem"), [c[1:] for c in REPORTED], ids=[c[0] for c in REPORTED]
)
def test_apply_change_reports_odd_paths_and_changes_nothing(block, element, current, problem):
    block = copy.deepcopy(block)
    before = copy.deepcopy(block)

    reported = apply_change(block, element, current)

    assert reported is not None and problem in reported
    assert block == before


# --------------------------------------------------------------------------------------------------
# next_status
# --------------------------------------------------------------------------------------------------


def _transfer(*retained: Any) -> dict[str, Any]:
    transfers = [{"transferredFromDUNS": DUNS, "retainedDUNS": duns} for duns in retained]
    return {"type": "TRANSFER", "organization": {"duns": DUNS, "dunsControlStatus": {"dunsTransfers": transfers}}}


@pytest.mark.parametrize(
    ("status", "transferred_to", "notification", "expected"),
    [
        ("deleted", None, {"type": "SEED"}, ("active", None)),
        ("active", None, {"type": "DELETE"}, ("deleted", None)),
        ("deleted", None, {"type": "UNDELETE"}, ("active", None)),
        ("active", None, {"type": "UNDER_REVIEW"}, ("under_review", None)),
        ("under_review", None, {"type": "REVIEWED"}, ("active", None)),
        ("active", None, _transfer("804735132", "999999999"), ("transferred", "804735132")),
        ("active", None, _transfer(None, "12", "804735132"), ("transferred", "804735132")),
        ("active", None, {"type": "TRANSFER", "organization": {"duns": DUNS}}, ("transferred", None)),
        ("active", None, {"type": "EXIT"}, ("exited", None)),
        ("exited", None, {"type": "ENTER"}, ("active", None)),
        ("active", None, {"type": "REMOVED"}, ("removed", None)),
        ("active", None, {"type": "UPDATE"}, ("active", None)),
        ("deleted", None, {"type": "UPDATE"}, ("deleted", None)),
        ("under_review", None, {"type": "UPDATE"}, ("under_review", None)),
        ("transferred", "804735132", {"type": "UPDATE"}, ("transferred", "804735132")),
        ("transferred", "804735132", {"type": "UNDELETE"}, ("active", None)),
        ("active", None, {"type": "SURPRISE"}, ("active", None)),
    ],
)
def test_next_status(status, transferred_to, notification, expected):
    assert next_status(status, transferred_to, notification) == expected


# --------------------------------------------------------------------------------------------------
# fold
# --------------------------------------------------------------------------------------------------


def _row(landed_id: int, kind: str, notification: dict[str, Any], *, duns: str = DUNS) -> dict[str, Any]:
    return {
        "id": landed_id,
        "reference": REF,
        "duns": duns,
        "notification_type": kind,
        "delivery_ts": T0 + timedelta(minutes=landed_id),
        "page_position": 0,
        "payload": json.dumps({"type": kind, **notification}),
    }


def _change(element: str, current: Any) -> dict[str, Any]:
    return {"element": element, "previous": "?", "current": current, "timestamp": "2026-11-17T01:23:13Z"}


def _update(*changes: dict[str, Any], duns: str = DUNS) -> dict[str, Any]:
    return {"type": "UPDATE", "organization": {"duns": duns}, "elements": list(changes)}


SEED_BLOCK = {
    "duns": DUNS,
    "primaryName": "ACME LTD",
    "primaryAddress": {"postalCode": "EC2", "addressLocality": {"name": "LONDON"}},
    "telephone": [{"telephoneNumber": "1"}],
    "dnbAssessment": {"standardRating": {"rating": "5A2", "scoreDate": "2026-11-01"}},
}


def test_a_seed_then_updates_give_the_block_with_every_change_in_order():
    problems: list[str] = []
    state = fold(None, _row(1, "SEED", {"organization": copy.deepcopy(SEED_BLOCK)}))
    state = fold(state, _row(2, "UPDATE", _update(_change("organization.primaryAddress.postalCode", "EC3"))))
    state = fold(
        state,
        _row(
            3,
            "UPDATE",
            _update(
                _change("organization.dnbAssessment.standardRating.scoreDate", "2026-11-16"),
                _change("organization.telephone", []),
                _change("organization.primaryName.bad", "x"),  # reported, the others still apply
                _change("organization.primaryAddress.postalCode", "EC4"),
            ),
        ),
        problems=problems,
    )

    assert state.block == {
        **SEED_BLOCK,
        "primaryAddress": {"postalCode": "EC4", "addressLocality": {"name": "LONDON"}},
        "telephone": [],
        "dnbAssessment": {"standardRating": {"rating": "5A2", "scoreDate": "2026-11-16"}},
    }
    assert (state.status, state.updates_applied, state.last_notification_type, state.last_landed_id) == (
        "active",
        2,
        "UPDATE",
        3,
    )
    assert state.last_delivery_ts == T0 + timedelta(minutes=3)
    assert len(problems) == 1 and "crosses a str" in problems[0]


def test_an_update_before_any_seed_leaves_no_block_and_the_next_seed_starts_it():
    state = fold(None, _row(1, "UPDATE", _update(_change("organization.primaryName", "EARLY"))))

    assert (state.block, state.status, state.updates_applied) == (None, "active", 0)
    state = fold(state, _row(2, "SEED", {"organization": copy.deepcopy(SEED_BLOCK)}))
    assert state.block == SEED_BLOCK  # the older UPDATE is not replayed onto a newer full picture


def test_a_new_seed_replaces_the_block_and_statuses_follow_the_types():
    state = fold(None, _row(1, "SEED", {"organization": {"duns": DUNS, "primaryName": "OLD", "gone": 1}}))
    state = fold(state, _row(2, "UPDATE", _update(_change("primaryName", "NEWER"))))
    state = fold(state, _row(3, "DELETE", {"organization": {"duns": DUNS}, "elements": None}))
    state = fold(state, _row(4, "UPDATE", _update(_change("primaryName", "WHILE DELETED"))))
    assert (state.status, state.block) == ("deleted", {"duns": DUNS, "primaryName": "WHILE DELETED", "gone": 1})

    state = fold(state, _row(5, "SEED", {"organization": {"duns": DUNS, "primaryName": "FRESH"}}))
    assert (state.status, state.block, state.updates_applied) == ("active", {"duns": DUNS, "primaryName": "FRESH"}, 0)

    state = fold(state, _row(6, "TRANSFER", _transfer("804735132")))
    assert (state.status, state.transferred_to) == ("transferred", "804735132")


def test_fold_reports_broken_payload_parts_without_raising():
    problems: list[str] = []
    state = fold(None, _row(1, "SEED", {"organization": "not an object"}), problems=problems)
    state = fold(state, _row(2, "SEED", {"organization": {"duns": DUNS}}), problems=problems)
    state = fold(state, _row(3, "UPDATE", {"elements": ["not a change", {"no": "element"}]}), problems=problems)
    state = fold(state, _row(4, "TRANSFER", {"organization": {"duns": DUNS}}), problems=problems)

    assert state.block == {"duns": DUNS}
    assert len(problems) == 4
    with pytest.raises(ValueError, match="folded into"):
        fold(CompanyState(reference=REF, duns=OTHER), _row(5, "UPDATE", _update()))


# --------------------------------------------------------------------------------------------------
# update_companies, on SQLite and PostgreSQL
# --------------------------------------------------------------------------------------------------

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
        _stamped(_update(_change("organization.primaryAddress.postalCode", "EC3"))),
        _stamped(_update(_change("organization.telephone", []), _change("organization.primaryName.x", 1))),
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
    _land(engine, _stamped(_update(_change("organization.primaryName", "EARLY"))))
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
        _stamped(_update(_change("primaryName", "STILL DELETED"))),
        _stamped(_transfer("804735132")),  # deleted, updated while deleted, then transferred
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
    _land(engine, _stamped(_update(_change("organization.primaryName", "NEWEST")), T0 + timedelta(hours=2)))
    _land(engine, _stamped({"type": "SEED", "organization": {"duns": OTHER}}, T0))
    update_companies(engine)

    # Recovered through Replay after the newer one was folded: it belongs before it.
    _land(
        engine,
        _stamped(
            _update(_change("organization.primaryName", "OLDER"), _change("organization.extra", 1)),
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
    _land(engine, _stamped(_update(_change("organization.primaryName", "B"))))
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
    real = company_state._fold_window
    calls = iter(range(100))

    def crash_on_third(*args: Any, **kwargs: Any) -> None:
        if next(calls) == 2:
            raise RuntimeError("killed")
        real(*args, **kwargs)

    monkeypatch.setattr(company_state, "_fold_window", crash_on_third)
    with pytest.raises(RuntimeError, match="killed"):
        update_companies(engine, batch_size=50)
    assert 0 < max(row["last_landed_id"] for row in _snapshot(engine).values()) < 300
    monkeypatch.setattr(company_state, "_fold_window", real)

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
        _stamped(_update(_change("organization.primaryName", "RACE"), duns=last)),
        # Older than what `last` already has: the rebuild's catch-up must recompute it.
        _stamped(_update(_change("organization.race", "late"), duns=last), before_newest),
        _stamped({"type": "SEED", "organization": {"duns": "222222222"}}),
    ]
    real_lock, real_recompute = company_state._lock, company_state._recompute
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

    monkeypatch.setattr(company_state, "_lock", lock_after_a_racing_run)
    monkeypatch.setattr(company_state, "_recompute", recompute)
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
