"""notifications_processing_duration_seconds' second stage, landed -> materialized: a notification is timed when a
run first writes it to its day's files, once; a rebuild of the day keeps that first time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from monitoring_pipeline.ops.dnb_reads import DELIVERY_TO_LANDED, LANDED_TO_MATERIALIZED, stage_histograms
from monitoring_pipeline.storage.schema import dnb_landed_notifications
from monitoring_pipeline_tests.defs.dnb.pipeline import build_pipeline, today

REFERENCE = "STAGES"


def _materialized_at(engine) -> dict[str, object]:  # type: ignore[no-untyped-def]
    t = dnb_landed_notifications.c
    with engine.connect() as connection:
        return dict(connection.execute(select(t.notification_key, t.materialized_at)).all())


def test_each_notification_is_timed_from_landing_to_its_files_once(emulator, sqlite_engine, tmp_path):
    pipeline = build_pipeline(emulator.url, sqlite_engine, tmp_path, [REFERENCE])
    pipeline.admin.create_registration(REFERENCE)
    pipeline.admin.generate(REFERENCE, 20)
    pipeline.tick()
    day = today()

    def counts() -> dict[str, int]:
        return {stage: histogram[1]
                for stage, histogram in stage_histograms(sqlite_engine, day, day + timedelta(days=1)).items()}

    assert counts() == {DELIVERY_TO_LANDED: 20, LANDED_TO_MATERIALIZED: 0}  # landed, not in files yet
    assert pipeline.materialize_day(day, landing_run=True).success
    assert counts() == {DELIVERY_TO_LANDED: 20, LANDED_TO_MATERIALIZED: 20}
    first = _materialized_at(sqlite_engine)
    assert all(value is not None for value in first.values())

    pipeline.admin.generate(REFERENCE, 5)
    pipeline.tick()
    assert pipeline.materialize_day(day, landing_run=True).success  # the sensor's run: only the new ones
    assert counts() == {DELIVERY_TO_LANDED: 25, LANDED_TO_MATERIALIZED: 25}
    assert pipeline.materialize_day(day, landing_run=False).success  # a rebuild (backfill) of the day
    after = _materialized_at(sqlite_engine)
    assert {key: after[key] for key in first} == first, "a rebuild moved a notification's first materialization"
    assert counts()[LANDED_TO_MATERIALIZED] == 25
