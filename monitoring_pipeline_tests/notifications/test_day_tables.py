"""notifications_table and notification_metrics: idempotent per day, incremental for new rows, right figures."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator
from monitoring_pipeline.notifications.day_tables import build_day_tables, day_row_counts
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.notifications.metrics import day_metrics
from monitoring_pipeline.notifications.snapshots import Snapshot, take_snapshot
from monitoring_pipeline.storage.schema import dnb_company_changes, dnb_notification_elements, dnb_notifications

DAY = date(2026, 11, 20)


def land(engine, count, *, at, reference="DAY_REF", seed=1, types=None):
    generator = NotificationGenerator(seed=seed, seed_block_kb=2)
    notifications = generator.generate(count, now=at, types=types or {"UPDATE": 0.8, "DELETE": 0.1, "SEED": 0.1})
    for notification in notifications:
        notification["deliveryTimeStamp"] = format_millis(at)
    page = NotificationPage(reference=reference, notifications=notifications, transaction_id=None, source="pull")
    return land_page(engine, page)


def rows(engine):
    with engine.connect() as connection:
        notifications = connection.execute(
            select(dnb_notifications).order_by(dnb_notifications.c.notification_key)
        ).all()
        elements = connection.execute(
            select(dnb_notification_elements).order_by(
                dnb_notification_elements.c.notification_key, dnb_notification_elements.c.position
            )
        ).all()
    return notifications, elements


def test_rebuild_is_idempotent_and_matches_what_landed(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 60, at=noon)
    land(engine, 40, at=noon + timedelta(minutes=5), seed=2)
    land(engine, 10, at=noon + timedelta(days=1), seed=3)  # another day stays untouched

    first = build_day_tables(engine, DAY, rebuild=True)
    snapshot = rows(engine)
    second = build_day_tables(engine, DAY, rebuild=True)

    assert first.notifications == second.notifications == 100
    assert rows(engine) == snapshot
    assert day_row_counts(engine, DAY) == (100, 100)
    assert first.elements == len([e for e in snapshot[1] if e.delivery_day == DAY]) > 0


def test_incremental_run_adds_only_new_notifications(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 50, at=noon)
    build_day_tables(engine, DAY, rebuild=False)
    land(engine, 7, at=noon + timedelta(minutes=1), seed=9)

    added = build_day_tables(engine, DAY, rebuild=False)

    assert added.notifications == 7
    assert day_row_counts(engine, DAY) == (57, 57)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(dnb_notifications)).scalar_one() == 57


def test_a_run_writes_and_counts_only_what_its_snapshot_reaches(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 20, at=noon)
    snapshot = take_snapshot(engine)
    land(engine, 5, at=noon + timedelta(minutes=1), seed=4)  # lands while the run works

    incremental = build_day_tables(engine, DAY, rebuild=False, snapshot=snapshot)

    assert incremental.notifications == 20
    assert day_row_counts(engine, DAY, snapshot) == (20, 20)  # the run's own snapshot matches
    assert day_row_counts(engine, DAY) == (25, 20)  # judged at check time it would not


def test_a_rebuild_within_an_older_snapshot_keeps_rows_a_newer_run_wrote(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 20, at=noon)
    older = take_snapshot(engine)
    land(engine, 5, at=noon + timedelta(minutes=1), seed=4)
    build_day_tables(engine, DAY, rebuild=False)  # a newer landing-triggered run tables all 25

    rebuilt = build_day_tables(engine, DAY, rebuild=True, snapshot=older)

    assert rebuilt.notifications == 20
    assert day_row_counts(engine, DAY) == (25, 25)
    assert day_row_counts(engine, DAY, older) == (20, 20)


def test_a_row_that_matches_nothing_landed_is_a_real_mismatch(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 10, at=noon)
    build_day_tables(engine, DAY, rebuild=False)
    with engine.begin() as connection:
        connection.execute(dnb_notifications.insert().values(
            notification_key="f" * 64, reference="DAY_REF", duns="123456789", notification_type="UPDATE",
            delivery_ts=noon, delivery_day=DAY, element_count=0, landed_id=1,
        ))

    assert day_row_counts(engine, DAY, Snapshot(landed_up_to=10**9, quarantined_up_to=0)) == (10, 11)


def test_element_rows_keep_shapes_and_timestamps(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 30, at=noon, types={"UPDATE": 1})
    build_day_tables(engine, DAY, rebuild=True)
    _, elements = rows(engine)
    assert all(e.element.startswith("organization.") for e in elements)
    assert all(e.changed_at is not None and e.changed_at <= noon for e in elements)
    values = [json.loads(v) for e in elements for v in (e.previous, e.current) if v is not None]
    assert any(isinstance(v, dict) for v in values) and any(isinstance(v, list) for v in values)


def test_metrics_count_types_companies_and_lag(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 80, at=noon, types={"UPDATE": 0.75, "DELETE": 0.25})
    build_day_tables(engine, DAY, rebuild=True)

    metrics = day_metrics(engine, DAY)
    metadata = metrics.as_metadata()

    assert metadata["notifications"] == 80
    assert metadata["type_update"] + metadata["type_delete"] == 80
    assert metadata["type_seed"] == 0  # every type always present: stable keys for plots
    assert 0 < metadata["duns_affected"] <= 80
    assert 0 < metadata["delivery_lag_p50_seconds"] <= metadata["delivery_lag_p95_seconds"]
    assert metadata["delivery_lag_max_seconds"] <= 36 * 3600 + 1  # the generator's changes are < 36 h old


def test_the_company_changes_view_joins_each_change_to_its_notification(engine):
    noon = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    land(engine, 30, at=noon, types={"UPDATE": 1})
    build_day_tables(engine, DAY, rebuild=True)
    _, elements = rows(engine)
    with engine.connect() as connection:
        changes = connection.execute(
            select(dnb_company_changes).where(dnb_company_changes.c.delivery_day == DAY)
        ).all()
    assert len(changes) == len(elements)
    assert {c.notification_type for c in changes} == {"UPDATE"}
    assert all(c.reference == "DAY_REF" and c.delivery_ts == noon for c in changes)
