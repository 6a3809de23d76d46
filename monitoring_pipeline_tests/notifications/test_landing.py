"""Landing: durable, idempotent, quarantining, and complete after faults and a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.notifications.day_tables import build_day_tables, day_row_counts
from monitoring_pipeline.notifications.landing import land_all, land_page, land_registration
from monitoring_pipeline.notifications.monitored_companies import update_companies
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_quarantine, dnb_registration_status
from monitoring_pipeline_tests.dnb.ground_truth import delivered_keys

GOOD = {
    "type": "UPDATE",
    "organization": {"duns": "001017545"},
    "elements": [
        {"element": "organization.primaryName", "previous": "A", "current": "B", "timestamp": "2026-11-17T01:23:13Z"}
    ],
    "deliveryTimeStamp": "2026-11-20T11:06:48.292Z",
}


def _page(*notifications, source="pull"):
    return NotificationPage(reference="LAND", notifications=list(notifications), transaction_id="rrt-1", source=source)


def _count(engine, table):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _stored_keys(engine, reference):
    with engine.connect() as connection:
        rows = connection.execute(
            select(dnb_landed_notifications.c.notification_key).where(dnb_landed_notifications.c.reference == reference)
        ).scalars()
        return list(rows)


def test_landing_a_page_twice_stores_it_once(engine):
    second = {**GOOD, "organization": {"duns": "213310873"}}
    first = land_page(engine, _page(GOOD, second))
    again = land_page(engine, _page(GOOD, second, source="replay"))

    assert (first.landed, first.duplicates) == (2, 0)
    assert (again.landed, again.duplicates) == (0, 2)
    assert _count(engine, dnb_landed_notifications) == 2
    assert dict(first.days) == {GOOD_DAY: 2}


GOOD_DAY = __import__("datetime").date(2026, 11, 20)


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({**GOOD, "organization": {"duns": "12345"}}, "DUNS must be a string of exactly 9 digits"),
        ({**GOOD, "organization": {"name": "no duns"}}, "organization.duns: Field required"),
        ({**GOOD, "deliveryTimeStamp": "yesterday"}, "deliveryTimeStamp"),
        ({**GOOD, "type": "SURPRISE"}, "unknown notification type 'SURPRISE'"),
        ({**GOOD, "elements": [{"previous": 1}]}, "elements.0.element: Field required"),
        ("not even an object", "notification"),
    ],
)
def test_malformed_notifications_are_quarantined_with_a_reason_and_never_block_the_page(engine, bad, reason):
    result = land_page(engine, _page(bad, GOOD))

    assert (result.landed, result.quarantined) == (1, 1)
    with engine.connect() as connection:
        stored = connection.execute(select(dnb_quarantine.c.reason, dnb_quarantine.c.payload)).one()
    assert reason in stored.reason
    assert stored.payload  # the original is kept for inspection and replay


def test_nulls_and_unknown_fields_are_tolerated(engine):
    odd = {**GOOD, "elements": None, "organization": {"duns": "001017545", "newField": {"x": 1}}, "extra": True}
    assert land_page(engine, _page(odd)).landed == 1


def test_land_registration_stores_everything_delivered_despite_faults(client, admin, engine):
    admin.create_registration("LAND_FAULTS")
    admin.generate("LAND_FAULTS", 400)
    admin.faults(
        http_429={"probability": 0.1},
        http_5xx={"probability": 0.05, "status": 503},
        truncate_json={"probability": 0.05},
        drop_connection={"probability": 0.05},
        token_expiry_after_calls=5,
        seed=7,
    )
    result = land_registration(client, engine, "LAND_FAULTS", page_size=20)
    admin.clear_faults()
    land_registration(client, engine, "LAND_FAULTS")  # picks up whatever the first drain's budget left

    assert result.error is None
    stored = _stored_keys(engine, "LAND_FAULTS")
    assert len(stored) == len(set(stored)) == 400
    assert set(stored) == set(delivered_keys(admin, "LAND_FAULTS"))
    with engine.connect() as connection:
        status = connection.execute(select(dnb_registration_status)).one()
    assert status.landed_total == 400 and status.last_error is None
    assert status.resume_from is not None and status.resume_from.tzinfo is not None


def test_a_failing_registration_records_its_error_and_keeps_its_cursor(make_client, admin, engine):
    client = make_client(max_attempts=2)
    admin.create_registration("LAND_DOWN")
    admin.generate("LAND_DOWN", 30)
    land_registration(client, engine, "LAND_DOWN", page_size=10)
    admin.generate("LAND_DOWN", 5)
    admin.faults(http_5xx={"count": 1000, "status": 500})

    result = land_registration(client, engine, "LAND_DOWN")

    assert result.error and "500" in result.error
    with engine.connect() as connection:
        status = connection.execute(select(dnb_registration_status)).one()
    assert status.last_error and status.landed_total == 30


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_killing_the_landing_process_mid_drain_loses_and_duplicates_nothing(
    backend, request, emulator, admin, tmp_path
):
    engine = request.getfixturevalue("sqlite_engine" if backend == "sqlite" else "pg_engine")
    database_url = engine.url.render_as_string(hide_password=False)
    admin.create_registration("LAND_KILL")
    admin.generate("LAND_KILL", 1500, types={"UPDATE": 0.95, "TRANSFER": 0.05})
    admin.faults(latency={"seconds": 0.01, "probability": 1.0})  # a drain of ~150 pages takes seconds
    args = [sys.executable, "-m", "monitoring_pipeline_tests.notifications.landing_worker", emulator.url,
            database_url, str(tmp_path / "state"), "LAND_KILL"]

    for kill_after_rows in (200, 700):
        worker = subprocess.Popen(args)
        while _count(engine, dnb_landed_notifications) < kill_after_rows and worker.poll() is None:
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert _count(engine, dnb_landed_notifications) < 1500  # it really died mid-drain

    admin.clear_faults()
    assert subprocess.run(args, timeout=120).returncode == 0
    stored = _stored_keys(engine, "LAND_KILL")
    assert len(stored) == len(set(stored))
    assert set(stored) == set(delivered_keys(admin, "LAND_KILL"))
    assert len(stored) == 1500


@pytest.mark.slow
def test_sqlite_holds_up_with_several_landing_processes_and_a_materializer_at_once(
    emulator, admin, sqlite_engine, tmp_path
):
    references = ["SQ_A", "SQ_B", "SQ_C"]
    for reference in references:
        admin.create_registration(reference)
        admin.generate(reference, 400, types={"UPDATE": 0.9, "DELETE": 0.1})
    database_url = sqlite_engine.url.render_as_string(hide_password=False)
    workers = [
        subprocess.Popen([sys.executable, "-m", "monitoring_pipeline_tests.notifications.landing_worker",
                          emulator.url, database_url, str(tmp_path / "state"), reference])
        for reference in references
    ]
    day = None
    while any(worker.poll() is None for worker in workers):
        # Runs keep reading and writing the same file while the landing processes write.
        for landed_day in _landed_days(sqlite_engine):
            build_day_tables(sqlite_engine, landed_day, rebuild=False)
            day = landed_day
        update_companies(sqlite_engine)

    assert [worker.returncode for worker in workers] == [0, 0, 0]
    for reference in references:
        assert set(_stored_keys(sqlite_engine, reference)) == set(delivered_keys(admin, reference))
    build_day_tables(sqlite_engine, day, rebuild=False)
    assert day_row_counts(sqlite_engine, day) == (1200, 1200)


def _landed_days(engine):
    with engine.connect() as connection:
        return list(connection.execute(select(dnb_landed_notifications.c.delivery_day).distinct()).scalars())


def test_the_registration_served_longest_ago_goes_first_when_the_budget_is_short(client, admin, engine):
    for reference in ("ORDER_A", "ORDER_B"):
        admin.create_registration(reference)
        admin.generate(reference, 5)
    land_all(client, engine, ["ORDER_A", "ORDER_B"], time_budget_seconds=30)
    admin.generate("ORDER_A", 5)
    admin.generate("ORDER_B", 5)
    # A zero budget still serves nobody; the order is what the next tick would use.
    results = land_all(client, engine, ["ORDER_A", "ORDER_B"], time_budget_seconds=0)
    assert [r.reference for r in results] == ["ORDER_A", "ORDER_B"]
    assert all(r.error == "time budget spent before this registration" for r in results)
    land_registration(client, engine, "ORDER_A")
    order = [r.reference for r in land_all(client, engine, ["ORDER_A", "ORDER_B"], time_budget_seconds=0)]
    assert order == ["ORDER_B", "ORDER_A"]


@pytest.mark.postgres
def test_landing_survives_a_database_that_drops_every_connection(client, admin, pg_engine):
    admin.create_registration("PG_RESTART")
    admin.generate("PG_RESTART", 50)
    land_registration(client, pg_engine, "PG_RESTART", page_size=10)
    database = pg_engine.url.database
    with pg_engine.connect() as connection:  # what a restart does to every pooled connection
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
    admin.generate("PG_RESTART", 50)

    result = land_registration(client, pg_engine, "PG_RESTART", page_size=10)

    assert result.error is None and result.landed == 50
    assert set(_stored_keys(pg_engine, "PG_RESTART")) == set(delivered_keys(admin, "PG_RESTART"))
