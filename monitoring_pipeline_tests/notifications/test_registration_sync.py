"""Portfolio sync against the emulator over HTTP, on SQLite and PostgreSQL: D&B ends up holding the declared DUNS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitoring_pipeline.dnb.keys import notification_key
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.registration_sync import (
    SUBJECT_PRESENT_CODE,
    applied_transfers,
    apply_transfer_actions,
    plan_sync,
    record_transfer_actions,
    sync_all,
    sync_registration,
    transfer_target,
)
from monitoring_pipeline.notifications.registrations import RegistrationConfig
from monitoring_pipeline.storage.schema import (
    dnb_landed_notifications,
    dnb_portfolio_actions,
    dnb_registration_sync_log,
)
from monitoring_pipeline_tests.waiting import eventually

A, B, C, D, E = "001017545", "060704780", "150483782", "213310873", "804735132"
SUBJECT = "/v1/monitoring/registrations/{reference}/subjects/{duns}"
BATCH = "PATCH /v1/monitoring/registrations/{reference}/subjects"


def make_config(reference: str, portfolio: list[str], **fields: Any) -> RegistrationConfig:
    return RegistrationConfig(
        reference=reference, product_id="cmpelk", portfolio=tuple(portfolio), source_file=Path("test.yaml"), **fields
    )


def many(count: int, start: int = 300_000_001) -> list[str]:
    return [f"{n:09d}" for n in range(start, start + count)]


def subjects(admin, reference: str) -> set[str]:
    return set(admin.registration(reference)["subjects"])


def monitoring_call_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls to registration endpoints between two ``admin.stats()["calls"]`` (token calls left out)."""
    return {
        label: after[label] - before.get(label, 0)
        for label in after
        if "/v1/monitoring/" in label and after[label] != before.get(label, 0)
    }


def sync_log(engine, reference: str) -> list[tuple[str, str, str, str | None, str | None]]:
    log = dnb_registration_sync_log
    with engine.connect() as connection:
        rows = connection.execute(
            select(log.c.action, log.c.duns, log.c.method, log.c.result_code, log.c.run_id)
            .where(log.c.reference == reference)
            .order_by(log.c.id)
        ).all()
    return [tuple(row) for row in rows]


def land(engine, reference: str, notification: dict[str, Any], position: int = 0) -> None:
    """A notification as the landing step stores it."""
    delivered = datetime.now(UTC)
    notification = {**notification, "deliveryTimeStamp": format_millis(delivered)}
    with engine.begin() as connection:
        connection.execute(
            dnb_landed_notifications.insert().values(
                notification_key=notification_key(reference, notification),
                reference=reference,
                duns=notification["organization"]["duns"],
                notification_type=notification["type"],
                delivery_ts=delivered,
                delivery_day=delivered.date(),
                page_position=position,
                payload=json.dumps(notification),
                source="pull",
                landed_at=delivered,
            )
        )


def transfer(old: str, retained: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "transferDate": "2026-11-18",
        "transferReason": {"description": "Duplicate Record Transfer", "dnbCode": 8852},
        "transferredFromDUNS": old,
    }
    if retained is not None:
        entry["retainedDUNS"] = retained
    return {"type": "TRANSFER", "organization": {"duns": old, "dunsControlStatus": {"dunsTransfers": [entry]}}}


def landed_rows(engine, reference: str) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(dnb_landed_notifications).where(dnb_landed_notifications.c.reference == reference)
        ).all()


def portfolio_actions(engine, reference: str) -> list[tuple[str, str, str, bool]]:
    actions = dnb_portfolio_actions
    with engine.connect() as connection:
        rows = connection.execute(
            select(actions.c.old_duns, actions.c.retained_duns, actions.c.status, actions.c.applied_at)
            .where(actions.c.reference == reference)
            .order_by(actions.c.id)
        ).all()
    return [(old, retained, status, applied_at is not None) for old, retained, status, applied_at in rows]


# -- planning (no D&B, no database) ------------------------------------------------------------------


def test_plan_substitutes_applied_transfers_and_picks_batch_by_threshold():
    config = make_config("REG", [A, B, C], batch_threshold=2)

    plan = plan_sync(config, {E}, {A: D, D: E})  # a chain: A became D, D became E

    assert plan.to_add == (B, C)
    assert plan.to_remove == ()
    assert not plan.use_batch_for_add and not plan.unsuppress
    assert plan_sync(config, set(), {}).use_batch_for_add
    assert plan_sync(config, {A, B, C, D, E}, {}).to_remove == (D, E)
    assert not plan_sync(config, {A, B, C, D, E}, {}).use_batch_for_remove


def test_plan_unsuppresses_only_until_done():
    config = make_config("REG", [A], unsuppress_after_seed=True)
    assert plan_sync(config, set(), {}).unsuppress
    assert not plan_sync(config, set(), {}, unsuppressed_before=True).unsuppress


def test_transfer_target_reads_the_retained_duns_and_refuses_malformed_payloads():
    assert transfer_target(json.dumps(transfer(A, D))) == (A, D)
    for bad in (transfer(A), transfer(A, "12345"), transfer(A, A), {"type": "TRANSFER"}, "{not json"):
        try:
            transfer_target(bad if isinstance(bad, str) else json.dumps(bad))
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


# -- syncing against the emulator --------------------------------------------------------------------


def test_small_portfolio_is_added_with_single_calls_and_a_second_sync_does_nothing(client, admin, engine):
    admin.create_registration("REG_SMALL")
    config = make_config("REG_SMALL", [A, B, C, D, E])
    before = admin.stats()["calls"]

    result = sync_registration(client, engine, config, "run-1")

    assert (result.added, result.already_present, result.batch_uploads) == (5, 0, 0)
    assert subjects(admin, "REG_SMALL") == {A, B, C, D, E}
    assert monitoring_call_delta(before, admin.stats()["calls"]) == {f"GET {SUBJECT}": 5, f"POST {SUBJECT}": 5}
    assert sync_log(engine, "REG_SMALL") == [("add", duns, "single", "21113", "run-1") for duns in [A, B, C, D, E]]
    assert result.actions == [("add", duns, "21113") for duns in [A, B, C, D, E]]

    before = admin.stats()["calls"]
    again = sync_registration(client, engine, config, "run-2")

    assert admin.stats()["calls"] == before
    assert (again.calls, again.added, again.actions) == (0, 0, [])


def test_big_portfolio_uses_batch_uploads_both_ways(client, admin, engine):
    admin.create_registration("REG_BIG")
    portfolio = many(15)
    before = admin.stats()["calls"]

    result = sync_registration(client, engine, make_config("REG_BIG", portfolio), "run-1")

    assert (result.added, result.batch_uploads) == (15, 1)
    assert monitoring_call_delta(before, admin.stats()["calls"]) == {BATCH: 1}  # no per-DUNS checks for a big portfolio
    assert eventually(lambda: subjects(admin, "REG_BIG") == set(portfolio))
    assert {row[2:4] for row in sync_log(engine, "REG_BIG")} == {("batch", "21108")}

    before = admin.stats()["calls"]
    assert sync_registration(client, engine, make_config("REG_BIG", portfolio), "run-2").calls == 0
    assert admin.stats()["calls"] == before

    shrunk = sync_registration(client, engine, make_config("REG_BIG", portfolio[:3]), "run-3")

    assert (shrunk.removed, shrunk.batch_uploads) == (12, 1)
    assert eventually(lambda: subjects(admin, "REG_BIG") == set(portfolio[:3]))


def test_removing_a_duns_from_config_removes_it_and_adding_it_back_restores_it(client, admin, engine):
    admin.create_registration("REG_EDIT")
    sync_registration(client, engine, make_config("REG_EDIT", [A, B, C]), "run-1")

    removed = sync_registration(client, engine, make_config("REG_EDIT", [A, B]), "run-2")

    assert (removed.removed, removed.actions) == (1, [("remove", C, "21114")])
    assert subjects(admin, "REG_EDIT") == {A, B}

    restored = sync_registration(client, engine, make_config("REG_EDIT", [A, B, C]), "run-3")

    assert restored.actions == [("add", C, "21113")]  # known absent from our log: no check needed
    assert subjects(admin, "REG_EDIT") == {A, B, C}


def test_duns_already_at_dnb_count_as_success(client, admin, engine):
    admin.create_registration("REG_PRESENT", subjects=[A, B])

    # Small portfolio: DUNS we never synced are checked first.
    result = sync_registration(client, engine, make_config("REG_PRESENT", [A, B, C]), "run-1")

    assert (result.added, result.already_present) == (1, 2)
    assert subjects(admin, "REG_PRESENT") == {A, B, C}
    assert sync_log(engine, "REG_PRESENT")[:2] == [
        ("add", A, "check", SUBJECT_PRESENT_CODE, "run-1"),
        ("add", B, "check", SUBJECT_PRESENT_CODE, "run-1"),
    ]
    before = admin.stats()["calls"]
    assert sync_registration(client, engine, make_config("REG_PRESENT", [A, B, C]), "run-2").calls == 0
    assert admin.stats()["calls"] == before

    # Big portfolio: not checked; adding one already there (21012) is a success too.
    client.add_subject("REG_PRESENT", D)  # added at D&B behind our back
    big = make_config("REG_PRESENT", [A, B, C, D], batch_threshold=2)

    late = sync_registration(client, engine, big, "run-3")

    assert (late.added, late.already_present, late.actions) == (0, 1, [("add", D, "21012")])
    assert subjects(admin, "REG_PRESENT") == {A, B, C, D}


def test_unsuppress_after_seed_happens_once(client, admin, engine):
    admin.create_registration("REG_SEED", seedData=True, suppressed=True)
    config = make_config("REG_SEED", [A, B], seed_data=True, unsuppress_after_seed=True)

    first = sync_registration(client, engine, config, "run-1")

    assert first.unsuppressed and first.added == 2
    assert admin.registration("REG_SEED")["suppressed"] is False
    assert sync_log(engine, "REG_SEED")[-1] == ("unsuppress", "", "single", None, "run-1")

    client.suppress("REG_SEED")  # someone holds notifications on purpose: not ours to undo
    before = admin.stats()["calls"]
    second = sync_registration(client, engine, config, "run-2")

    assert not second.unsuppressed
    assert admin.stats()["calls"] == before
    assert admin.registration("REG_SEED")["suppressed"] is True


def test_transfers_are_recorded_idempotently_and_applied_only_when_enabled(client, admin, engine):
    admin.create_registration("REG_TRANSFER", subjects=[A, B, C])
    declared = [A, B, C]
    sync_registration(client, engine, make_config("REG_TRANSFER", declared), "run-1")
    land(engine, "REG_TRANSFER", transfer(A, D))
    land(engine, "REG_TRANSFER", transfer(E, "884745530"))  # a DUNS we do not manage
    land(engine, "REG_TRANSFER", transfer(B))  # malformed: no retainedDUNS
    land(engine, "REG_TRANSFER", transfer(C, "12345"))  # malformed: invalid retainedDUNS
    land(engine, "REG_TRANSFER", {"type": "UPDATE", "organization": {"duns": B}, "elements": []})
    rows = landed_rows(engine, "REG_TRANSFER")

    assert record_transfer_actions(engine, "REG_TRANSFER", rows) == 2
    assert record_transfer_actions(engine, "REG_TRANSFER", rows) == 0
    assert portfolio_actions(engine, "REG_TRANSFER") == [
        (A, D, "pending", False),
        (E, "884745530", "pending", False),
    ]

    # Without applyTransfers they stay pending and are reported.
    assert apply_transfer_actions(client, engine, make_config("REG_TRANSFER", declared), "run-2") == 0
    (reported,) = sync_all(client, engine, [make_config("REG_TRANSFER", declared)], "run-3")
    assert (reported.transfers_pending, reported.transfers_recorded, reported.transfers_skipped) == (2, 0, 2)
    assert subjects(admin, "REG_TRANSFER") == {A, B, C}

    applying = make_config("REG_TRANSFER", declared, apply_transfers=True)
    assert apply_transfer_actions(client, engine, applying, "run-4") == 1

    assert subjects(admin, "REG_TRANSFER") == {B, C, D}
    assert portfolio_actions(engine, "REG_TRANSFER") == [(A, D, "applied", True), (E, "884745530", "ignored", True)]
    assert applied_transfers(engine, "REG_TRANSFER") == {A: D}
    assert sync_log(engine, "REG_TRANSFER")[-2:] == [
        ("remove", A, "single", "21114", "run-4"),
        ("add", D, "single", "21113", "run-4"),
    ]
    assert apply_transfer_actions(client, engine, applying, "run-5") == 0

    # The config still declares A: a later sync keeps the retained DUNS instead of undoing the transfer.
    before = admin.stats()["calls"]
    later = sync_registration(client, engine, make_config("REG_TRANSFER", declared), "run-6")
    assert (later.calls, later.actions) == (0, [])
    assert admin.stats()["calls"] == before
    assert subjects(admin, "REG_TRANSFER") == {B, C, D}


def test_sync_all_records_and_applies_landed_transfers(client, admin, engine):
    admin.create_registration("REG_AUTO")
    config = make_config("REG_AUTO", [A, B], apply_transfers=True)
    sync_all(client, engine, [config], "run-1")
    land(engine, "REG_AUTO", transfer(B, D))

    (result,) = sync_all(client, engine, [config], "run-2")

    assert result.ok
    assert (result.transfers_recorded, result.transfers_applied, result.transfers_pending) == (1, 1, 0)
    assert (result.added, result.removed) == (0, 0)  # the transfer already did the work
    assert subjects(admin, "REG_AUTO") == {A, D}


def test_sync_all_reports_unknown_registrations_and_syncs_the_others(client, admin, engine):
    admin.create_registration("REG_KNOWN")
    admin.create_registration("REG_WEBHOOK", deliveryTrigger="WEBHOOK")
    configs = [
        make_config("REG_KNOWN", [A]),
        make_config("REG_MISSING", [B]),
        make_config("REG_WEBHOOK", [C], delivery_trigger="WEBHOOK"),
    ]

    known, missing, webhook = sync_all(client, engine, configs, "run-1")

    assert known.ok and known.added == 1
    assert not missing.ok and "'REG_MISSING' is not known to D&B" in missing.error
    assert webhook.ok and webhook.added == 1  # portfolios are managed whatever the delivery trigger
    assert subjects(admin, "REG_KNOWN") == {A} and subjects(admin, "REG_WEBHOOK") == {C}
