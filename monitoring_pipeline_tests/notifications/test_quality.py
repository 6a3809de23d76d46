"""The rules behind the asset checks catch what they are meant to catch."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, update

from monitoring_pipeline.dnb.models import NotificationPage
from monitoring_pipeline.notifications.landing import land_page
from monitoring_pipeline.notifications.quality import (
    duplicate_notifications,
    invalid_landed_rows,
    malformed_duns,
    stale_registrations,
)
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_registration_status

DAY = date(2026, 11, 20)
STAMP = "2026-11-20T11:06:48.292Z"


def _delete(duns):
    return {"type": "DELETE", "organization": {"duns": duns}, "elements": [], "deliveryTimeStamp": STAMP}


def _land(engine, *notifications):
    land_page(engine, NotificationPage("QUAL", list(notifications), None, "pull"), resume_from=None)


def test_identical_copies_delivered_together_are_not_duplicates_but_a_re_keyed_copy_is(engine):
    _land(engine, _delete("001017545"), _delete("001017545"), _delete("213310873"))
    assert duplicate_notifications(engine, DAY).passed

    with engine.begin() as connection:
        connection.execute(
            insert(dnb_landed_notifications).values(
                notification_key="e" * 64, reference="QUAL", duns="213310873", notification_type="DELETE",
                delivery_ts=datetime(2026, 11, 20, 11, 6, 48, 292000, tzinfo=UTC), delivery_day=DAY,
                page_position=9, payload=json.dumps(_delete("213310873")), source="replay",
                landed_at=datetime.now(UTC),
            )
        )
    finding = duplicate_notifications(engine, DAY)
    assert not finding.passed and finding.count == 1 and "QUAL" in finding.examples[0]


def test_rows_that_no_longer_validate_and_bad_duns_are_found(engine):
    _land(engine, _delete("001017545"))
    assert invalid_landed_rows(engine, DAY).passed and malformed_duns(engine, DAY).passed
    with engine.begin() as connection:
        connection.execute(
            update(dnb_landed_notifications).values(duns="12AB", payload='{"type": "DELETE", "organization": {}}')
        )
    assert invalid_landed_rows(engine, DAY).count == 1
    assert malformed_duns(engine, DAY).examples == ["12AB"]


def test_stale_and_never_pulled_registrations_are_reported(engine):
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(dnb_registration_status),
            [
                {"reference": "FRESH", "last_success_at": now - timedelta(minutes=5), "landed_total": 0,
                 "quarantined_total": 0},
                {"reference": "STALE", "last_success_at": now - timedelta(hours=2), "landed_total": 0,
                 "quarantined_total": 0},
            ],
        )
    finding = stale_registrations(engine, ["FRESH", "STALE", "NEVER"], timedelta(minutes=30), now=now)
    assert not finding.passed
    assert finding.examples == ["STALE: last successful pull 120 min ago", "NEVER: never pulled successfully"]
    assert stale_registrations(engine, ["FRESH"], timedelta(minutes=30), now=now).passed


def test_a_landing_run_checks_only_what_it_adds(engine):
    from monitoring_pipeline.notifications.day_tables import build_day_tables

    _land(engine, _delete("001017545"))
    with engine.begin() as connection:  # an old row that went bad after it was tabled
        connection.execute(update(dnb_landed_notifications).values(duns="12AB", payload="{}"))
    build_day_tables(engine, DAY, rebuild=True)
    _land(engine, {**_delete("213310873"), "deliveryTimeStamp": "2026-11-20T12:00:00.000Z"})

    assert malformed_duns(engine, DAY, only_new=True).passed
    assert invalid_landed_rows(engine, DAY, only_new=True).passed
    assert duplicate_notifications(engine, DAY, only_new=True).passed
    assert not malformed_duns(engine, DAY).passed  # a rebuild still sees the whole day
    assert not invalid_landed_rows(engine, DAY).passed
