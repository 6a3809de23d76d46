"""Company state, the pure fold: dotted-path changes, status transitions, folding notifications in order."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from monitoring_pipeline.notifications.company_state import CompanyState, apply_change, fold, next_status
from monitoring_pipeline_tests.notifications.company_notifications import (
    DUNS,
    OTHER,
    REF,
    SEED_BLOCK,
    T0,
    change,
    transfer,
    update,
)

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


@pytest.mark.parametrize(
    ("status", "transferred_to", "notification", "expected"),
    [
        ("deleted", None, {"type": "SEED"}, ("active", None)),
        ("active", None, {"type": "DELETE"}, ("deleted", None)),
        ("deleted", None, {"type": "UNDELETE"}, ("active", None)),
        ("active", None, {"type": "UNDER_REVIEW"}, ("under_review", None)),
        ("under_review", None, {"type": "REVIEWED"}, ("active", None)),
        ("active", None, transfer("804735132", "999999999"), ("transferred", "804735132")),
        ("active", None, transfer(None, "12", "804735132"), ("transferred", "804735132")),
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


def test_a_seed_then_updates_give_the_block_with_every_change_in_order():
    problems: list[str] = []
    state = fold(None, _row(1, "SEED", {"organization": copy.deepcopy(SEED_BLOCK)}))
    state = fold(state, _row(2, "UPDATE", update(change("organization.primaryAddress.postalCode", "EC3"))))
    state = fold(
        state,
        _row(
            3,
            "UPDATE",
            update(
                change("organization.dnbAssessment.standardRating.scoreDate", "2026-11-16"),
                change("organization.telephone", []),
                change("organization.primaryName.bad", "x"),  # reported, the others still apply
                change("organization.primaryAddress.postalCode", "EC4"),
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
    state = fold(None, _row(1, "UPDATE", update(change("organization.primaryName", "EARLY"))))

    assert (state.block, state.status, state.updates_applied) == (None, "active", 0)
    state = fold(state, _row(2, "SEED", {"organization": copy.deepcopy(SEED_BLOCK)}))
    assert state.block == SEED_BLOCK  # the older UPDATE is not replayed onto a newer full picture


def test_a_new_seed_replaces_the_block_and_statuses_follow_the_types():
    state = fold(None, _row(1, "SEED", {"organization": {"duns": DUNS, "primaryName": "OLD", "gone": 1}}))
    state = fold(state, _row(2, "UPDATE", update(change("primaryName", "NEWER"))))
    state = fold(state, _row(3, "DELETE", {"organization": {"duns": DUNS}, "elements": None}))
    state = fold(state, _row(4, "UPDATE", update(change("primaryName", "WHILE DELETED"))))
    assert (state.status, state.block) == ("deleted", {"duns": DUNS, "primaryName": "WHILE DELETED", "gone": 1})

    state = fold(state, _row(5, "SEED", {"organization": {"duns": DUNS, "primaryName": "FRESH"}}))
    assert (state.status, state.block, state.updates_applied) == ("active", {"duns": DUNS, "primaryName": "FRESH"}, 0)

    state = fold(state, _row(6, "TRANSFER", transfer("804735132")))
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
        fold(CompanyState(reference=REF, duns=OTHER), _row(5, "UPDATE", update()))
