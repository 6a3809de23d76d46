"""Tests for the D&B Direct+ Monitoring notification generator."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline.fakes.dnb_emulator.generator import (
    DEFAULT_TYPE_MIX,
    NOTIFICATION_TYPES,
    NotificationGenerator,
)

GEN_SEED = 1234
NOW = datetime(2026, 11, 20, 11, 6, 47, 941000, tzinfo=UTC)
DUNS_RE = re.compile(r"^[0-9]{9}$")
SECONDS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NON_SEED_TYPES = [t for t in NOTIFICATION_TYPES if t != "SEED"]


def _keys(value: Any) -> set[str]:
    """Every dict key anywhere inside a JSON-ready value."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


@pytest.fixture()
def gen() -> NotificationGenerator:
    return NotificationGenerator(seed=GEN_SEED, seed_block_kb=40)


# ---- interface constants ---------------------------------------------------------------------------


def test_types_and_default_mix() -> None:
    assert NOTIFICATION_TYPES == (
        "UPDATE", "SEED", "DELETE", "UNDELETE", "TRANSFER",
        "UNDER_REVIEW", "REVIEWED", "EXIT", "ENTER", "REMOVED",
    )  # fmt: skip
    assert set(DEFAULT_TYPE_MIX) == set(NOTIFICATION_TYPES)
    assert all(weight > 0 for weight in DEFAULT_TYPE_MIX.values())
    total = sum(DEFAULT_TYPE_MIX.values())
    assert 0.75 <= DEFAULT_TYPE_MIX["UPDATE"] / total <= 0.85


# ---- shape per type --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_every_type_has_the_right_envelope(gen: NotificationGenerator, kind: str) -> None:
    for _ in range(20):
        duns = gen.random_duns()
        notification = gen.make(kind, duns, NOW)
        assert notification["type"] == kind
        assert notification["organization"]["duns"] == duns
        assert "deliveryTimeStamp" not in _keys(notification)
        json.dumps(notification)  # JSON-ready


def test_update_elements(gen: NotificationGenerator) -> None:
    for _ in range(500):
        notification = gen.make("UPDATE", "213310873", NOW)
        elements = notification["elements"]
        assert 1 <= len(elements) <= 4
        paths = [element["element"] for element in elements]
        assert len(set(paths)) == len(paths)
        stamps = []
        for element in elements:
            assert set(element) == {"element", "previous", "current", "timestamp"}
            assert element["element"].startswith("organization.")
            assert element["previous"] != element["current"]
            assert SECONDS_Z_RE.match(element["timestamp"]), element["timestamp"]
            stamp = parse_dnb_timestamp(element["timestamp"])
            assert stamp <= NOW
            assert (NOW - stamp).days < 7  # "a little before now"
            stamps.append(stamp)
        assert stamps == sorted(stamps)


def test_update_value_shapes_cover_scalars_objects_arrays_and_null(gen: NotificationGenerator) -> None:
    elements = [e for n in gen.generate(3000, NOW, types={"UPDATE": 1}) for e in n["elements"]]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for element in elements:
        by_path.setdefault(element["element"], []).append(element)

    for path in (
        "organization.primaryName",
        "organization.registeredName",
        "organization.dnbAssessment.standardRating.scoreDate",
        "organization.dnbAssessment.standardRating.rating",
        "organization.numberOfEmployees",
        "organization.financials",
        "organization.primaryAddress",
        "organization.telephone",
        "organization.websiteAddress",
        "organization.corporateLinkage.globalUltimate",
        "organization.mostSeniorPrincipals",
        "organization.industryCodes",
        "organization.dunsControlStatus.operatingStatus",
        "organization.businessTrading",
    ):
        assert path in by_path, path

    values = [v for e in elements for v in (e["previous"], e["current"])]
    assert any(isinstance(v, str) for v in values)
    assert any(isinstance(v, int) and not isinstance(v, bool) for v in values)
    assert any(isinstance(v, dict) for v in values)
    assert any(isinstance(v, list) and v for v in values)
    assert any(e["previous"] is None and e["current"] is not None for e in elements)

    for element in by_path["organization.dnbAssessment.standardRating.scoreDate"]:
        assert DATE_RE.match(element["previous"]) and DATE_RE.match(element["current"])
        assert element["previous"] < element["current"] <= NOW.date().isoformat()

    for element in by_path["organization.primaryAddress"]:
        for address in (element["previous"], element["current"]):
            assert {"streetAddress", "addressLocality", "postalCode", "addressCountry"} <= set(address)

    trading = by_path["organization.businessTrading"]
    assert any(e["current"] == [] and e["previous"] for e in trading)  # item removed
    assert any(e["previous"] == [] and e["current"] for e in trading)  # item added
    for element in trading:
        for item in element["previous"] + element["current"]:
            assert DATE_RE.match(item["summaryDate"]) and len(item["currency"]) == 3

    phones = by_path["organization.telephone"]
    assert all(isinstance(e["current"], list) for e in phones)
    assert any(e["previous"] == [] for e in phones)


def test_seed_carries_whole_block_without_elements(gen: NotificationGenerator) -> None:
    notification = gen.make("SEED", "001017545", NOW)
    assert "elements" not in notification
    block = notification["organization"]
    assert block["duns"] == "001017545"
    for key in (
        "primaryName", "tradeStyleNames", "registeredAddress", "primaryAddress", "telephone",
        "websiteAddress", "industryCodes", "numberOfEmployees", "financials", "corporateLinkage",
        "mostSeniorPrincipals", "registrationNumbers", "dnbAssessment", "dunsControlStatus",
    ):  # fmt: skip
        assert key in block, key
    linkage = block["corporateLinkage"]
    for role in ("globalUltimate", "domesticUltimate", "parent"):
        assert DUNS_RE.match(linkage[role]["duns"])
        assert linkage[role]["primaryName"]
    assert isinstance(block["industryCodes"], list) and isinstance(block["telephone"], list)


@pytest.mark.parametrize("kb", [40, 10, 120])
def test_seed_block_size_within_band(kb: int) -> None:
    gen = NotificationGenerator(seed=kb, seed_block_kb=kb)
    target = kb * 1024
    for _ in range(5):
        block = gen.seed_block(gen.random_duns())
        assert 0.75 * target <= _compact_size(block) <= 1.25 * target
        assert 0.75 * target <= len(json.dumps(block)) <= 1.25 * target


def test_seed_block_is_stable_per_duns(gen: NotificationGenerator) -> None:
    assert gen.seed_block("123456789") == gen.seed_block("123456789")
    assert gen.seed_block("123456789") != gen.seed_block("987654321")
    assert NotificationGenerator(seed=1).seed_block("123456789") == NotificationGenerator(seed=1).seed_block(
        "123456789"
    )


def test_transfer_names_a_different_retained_duns(gen: NotificationGenerator) -> None:
    for _ in range(200):
        duns = gen.random_duns()
        notification = gen.make("TRANSFER", duns, NOW)
        transfers = notification["organization"]["dunsControlStatus"]["dunsTransfers"]
        assert len(transfers) == 1
        transfer = transfers[0]
        assert transfer["transferredFromDUNS"] == duns
        assert DUNS_RE.match(transfer["retainedDUNS"])
        assert transfer["retainedDUNS"] != duns
        assert transfer["transferReason"] == {"description": "Duplicate Record Transfer", "dnbCode": 8852}
        assert DATE_RE.match(transfer["transferDate"])
        assert transfer["transferDate"] <= NOW.date().isoformat()


@pytest.mark.parametrize("kind", ["DELETE", "UNDELETE"])
def test_delete_undelete_carry_operating_status(gen: NotificationGenerator, kind: str) -> None:
    status = gen.make(kind, "000000001", NOW)["organization"]["dunsControlStatus"]["operatingStatus"]
    assert status["description"] == ("Out of Business" if kind == "DELETE" else "Active")
    assert isinstance(status["dnbCode"], int)


@pytest.mark.parametrize("kind", NON_SEED_TYPES[1:])
def test_non_update_elements_are_empty_list_or_null(gen: NotificationGenerator, kind: str) -> None:
    seen = {json.dumps(gen.make(kind, "123456789", NOW)["elements"]) for _ in range(60)}
    assert seen == {"[]", "null"}


def test_extra_harmless_fields_sometimes_present(gen: NotificationGenerator) -> None:
    notifications = gen.generate(2000, NOW, types={t: 1 for t in NON_SEED_TYPES})
    extras = [n for n in notifications if set(n["organization"]) - {"duns", "dunsControlStatus"}]
    assert 0 < len(extras) < len(notifications) * 0.2


# ---- DUNS ------------------------------------------------------------------------------------------


def test_duns_are_nine_digits_with_some_leading_zeros(gen: NotificationGenerator) -> None:
    values = [gen.random_duns() for _ in range(2000)]
    values += [n["organization"]["duns"] for n in gen.generate(500, NOW, types={"UPDATE": 1})]
    assert all(DUNS_RE.match(v) for v in values)
    assert any(v.startswith("0") for v in values)
    assert len(set(values)) > len(values) * 0.95


def test_given_duns_are_the_only_subjects(gen: NotificationGenerator) -> None:
    subjects = ["001017545", "213310873", "999999999"]
    notifications = gen.generate(300, NOW, types={"UPDATE": 5, "TRANSFER": 1, "DELETE": 1}, duns=subjects)
    assert {n["organization"]["duns"] for n in notifications} == set(subjects)


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "12345678a", "12345678\n", ""])
def test_bad_duns_rejected(gen: NotificationGenerator, bad: str) -> None:
    with pytest.raises(ValueError, match="DUNS"):
        gen.make("UPDATE", bad, NOW)
    with pytest.raises(ValueError, match="DUNS"):
        gen.generate(1, NOW, duns=["123456789", bad])


def test_empty_duns_list_rejected(gen: NotificationGenerator) -> None:
    with pytest.raises(ValueError, match="duns"):
        gen.generate(1, NOW, duns=[])


# ---- determinism and mix ---------------------------------------------------------------------------


def test_deterministic_for_a_seed() -> None:
    first = NotificationGenerator(seed=99, seed_block_kb=5).generate(400, NOW)
    second = NotificationGenerator(seed=99, seed_block_kb=5).generate(400, NOW)
    assert json.dumps(first) == json.dumps(second)
    other = NotificationGenerator(seed=100, seed_block_kb=5).generate(400, NOW)
    assert json.dumps(first) != json.dumps(other)


def test_default_mix_roughly_honoured() -> None:
    notifications = NotificationGenerator(seed=5, seed_block_kb=1).generate(6000, NOW)
    counts = Counter(n["type"] for n in notifications)
    assert set(counts) == set(NOTIFICATION_TYPES)
    assert 0.75 <= counts["UPDATE"] / len(notifications) <= 0.85


def test_custom_weights_are_normalised() -> None:
    notifications = NotificationGenerator(seed=6).generate(4000, NOW, types={"EXIT": 3, "ENTER": 1, "SEED": 0})
    counts = Counter(n["type"] for n in notifications)
    assert set(counts) == {"EXIT", "ENTER"}
    assert 0.70 <= counts["EXIT"] / len(notifications) <= 0.80


def test_count_zero_gives_empty_list(gen: NotificationGenerator) -> None:
    assert gen.generate(0, NOW) == []


# ---- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "needle"),
    [
        ({"UPDATE": 1, "BOGUS": 1}, "BOGUS"),
        ({"update": 1}, "update"),
        ({"UPDATE": 1, "DELETE": -0.5}, "DELETE"),
        ({"UPDATE": float("nan")}, "UPDATE"),
        ({"UPDATE": "1"}, "UPDATE"),
        ({"UPDATE": 0, "SEED": 0}, "positive total"),
        ({}, "positive total"),
    ],
)
def test_bad_weights_rejected(gen: NotificationGenerator, types: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        gen.generate(5, NOW, types=types)


def test_negative_count_rejected(gen: NotificationGenerator) -> None:
    with pytest.raises(ValueError, match="count"):
        gen.generate(-1, NOW)


def test_unknown_type_in_make_rejected(gen: NotificationGenerator) -> None:
    with pytest.raises(ValueError, match="FOO"):
        gen.make("FOO", "123456789", NOW)


def test_negative_seed_block_kb_rejected() -> None:
    with pytest.raises(ValueError, match="seed_block_kb"):
        NotificationGenerator(seed_block_kb=-1)


# ---- output contract -------------------------------------------------------------------------------


def test_output_is_json_ready_and_has_no_delivery_timestamp() -> None:
    notifications = NotificationGenerator(seed=8, seed_block_kb=2).generate(2000, NOW)
    text = json.dumps(notifications, allow_nan=False)
    assert "deliveryTimeStamp" not in text
    assert json.loads(text) == notifications  # no tuples or other non-JSON types
    assert all(DUNS_RE.match(n["organization"]["duns"]) for n in notifications)


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    aware = NotificationGenerator(seed=3).generate(50, NOW, types={"UPDATE": 1})
    assert NotificationGenerator(seed=3).generate(50, naive, types={"UPDATE": 1}) == aware
