"""Under a steady stream: notifications keep landing while the day's runs work, and every check still passes,
because each judges the snapshot its run started from (incremental runs requested by the sensor, and backfills)."""

from __future__ import annotations

import threading
import time
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import func, select

from monitoring_pipeline.defs.dnb.specs import LANDED_UP_TO_TAG
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.notifications.day_tables import day_row_counts
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_run_snapshots
from monitoring_pipeline_tests.defs.dnb.pipeline import Pipeline, build_pipeline, today

REFERENCES = ["STEADY_A", "STEADY_B"]
SUBJECTS = ["001017545", "213310873", "804735132"]
STREAM_PER_MINUTE = 900  # each registration: 15 a second, landed by the sensor as they come
LANDING_WAIT_SECONDS = 60.0


def _max_landed_id(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.max(dnb_landed_notifications.c.id), 0))).scalar_one())


class LandsBeforeEachAsset(ProjectDatabaseResource):
    """The real database resource, except that each asset gets its engine only once more notifications have landed
    than when it asked: so something always lands between a run's snapshot and its checks (by the sensor thread)."""

    def get_engine(self):  # type: ignore[no-untyped-def]
        engine = super().get_engine()
        seen = _max_landed_id(engine)
        deadline = time.monotonic() + LANDING_WAIT_SECONDS
        while _max_landed_id(engine) <= seen:
            if time.monotonic() > deadline:
                raise RuntimeError("nothing landed while the asset waited: the stream or the sensor stopped")
            time.sleep(0.05)
        return engine


class SteadyLanding(threading.Thread):
    """The landing sensor ticking continuously, as the daemon runs it, collecting its run requests for today."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(name="steady-landing", daemon=True)
        self.pipeline = pipeline
        self.requests: list[dg.RunRequest] = []
        self.error: BaseException | None = None
        self._stop_requested = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        cursor = None
        try:
            while not self._stop_requested.is_set():
                result = self.pipeline.tick(cursor)
                cursor = result.cursor
                with self._lock:
                    self.requests += [r for r in result.run_requests or [] if r.partition_key == today().isoformat()]
                time.sleep(0.1)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error

    def latest_request(self) -> dg.RunRequest:
        deadline = time.monotonic() + LANDING_WAIT_SECONDS
        while True:
            with self._lock:
                if self.requests:
                    request, self.requests = self.requests[-1], []
                    return request
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the sensor requested no run for today"
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop_requested.set()
        self.join(timeout=LANDING_WAIT_SECONDS)
        assert self.error is None, self.error


@pytest.fixture
def steady(emulator, engine, tmp_path):
    pipeline = build_pipeline(emulator.url, engine, tmp_path, REFERENCES, run_interval_seconds=0)
    for reference in REFERENCES:
        pipeline.admin.create_registration(reference, subjects=SUBJECTS)
        pipeline.admin.generate(reference, 150, types={"UPDATE": 0.8, "SEED": 0.05, "TRANSFER": 0.05, "DELETE": 0.1})
        pipeline.admin.stream(reference, STREAM_PER_MINUTE, types={"UPDATE": 0.9, "DELETE": 0.1})
    landing = SteadyLanding(pipeline)
    landing.start()
    yield pipeline, landing
    for reference in REFERENCES:
        pipeline.admin.stream(reference, 0)
    landing.stop()


def _run(pipeline: Pipeline, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    database = LandsBeforeEachAsset(url=pipeline.engine.url.render_as_string(hide_password=False))
    return dg.materialize(pipeline.day_assets, partition_key=today().isoformat(),
                          resources={**pipeline.resources, "database": database}, tags=tags, raise_on_error=False)


def _assert_every_check_passed(result: dg.ExecuteInProcessResult) -> None:
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "landed_schema_valid", "duns_format", "no_duplicate_notifications", "quarantine_empty",
        "files_match_landed", "rows_match_landed",
    }
    failed = {e.check_name: e.metadata for e in evaluations if not e.passed}
    assert failed == {}
    assert result.success
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
                    for m in [m.event_specific_data.materialization]}
    assert {"company_changes", "notification_metrics"} <= materialized  # nothing skipped by a blocking check


def _judged(result: dg.ExecuteInProcessResult) -> int:
    return result.asset_materializations_for_node("notifications_table")[0].metadata["landed_up_to"].value


@pytest.mark.slow
def test_every_check_passes_while_notifications_land_during_incremental_runs_and_a_backfill(steady):
    pipeline, landing = steady
    day = today()
    for _ in range(2):
        request = landing.latest_request()
        incremental = _run(pipeline, dict(request.tags))

        _assert_every_check_passed(incremental)
        judged = _judged(incremental)
        assert judged == int(request.tags[LANDED_UP_TO_TAG])
        # Landed during the run, after its snapshot: what made rows_match_landed fail before ("N landed, M rows").
        assert _max_landed_id(pipeline.engine) > judged
        landed_now, tabled = day_row_counts(pipeline.engine, day)
        assert landed_now > tabled

    backfill = _run(pipeline, {})  # no tags: replays the day, records its snapshot after the replay

    _assert_every_check_passed(backfill)
    with pipeline.engine.connect() as connection:
        recorded = connection.execute(select(dnb_run_snapshots.c.landed_up_to).where(
            dnb_run_snapshots.c.run_id == backfill.run_id)).scalar_one()
    assert _judged(backfill) == recorded < _max_landed_id(pipeline.engine)

    after_backfill = _run(pipeline, dict(landing.latest_request().tags))
    _assert_every_check_passed(after_backfill)

    # Once the stream stops and everything is landed, a final rebuild sees one consistent day.
    for reference in REFERENCES:
        pipeline.admin.stream(reference, 0)
    landing.stop()
    pipeline.tick()
    final = dg.materialize(pipeline.day_assets, partition_key=day.isoformat(), resources=pipeline.resources)
    _assert_every_check_passed(final)
    landed, tabled = day_row_counts(pipeline.engine, day)
    assert landed == tabled == len(pipeline.admin.deliveries())
