"""The notification pipeline end to end: sensor → landing → day partitions → files, rows, metrics, companies."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, func, insert, select

from monitoring_pipeline.defs.dnb.specs import LANDING_TRIGGER, TRIGGER_TAG
from monitoring_pipeline.notifications.files import company_changes_path
from monitoring_pipeline.storage.schema import (
    dnb_company_changes,
    dnb_file_manifest,
    dnb_landed_notifications,
    dnb_notification_elements,
    dnb_notifications,
    dnb_quarantine,
)
from monitoring_pipeline_tests.defs.dnb.pipeline import build_pipeline, today

REFERENCES = ["E2E_A", "E2E_B"]


@pytest.fixture
def pipeline(emulator, engine, tmp_path):
    pipeline = build_pipeline(emulator.url, engine, tmp_path, REFERENCES)
    for reference in REFERENCES:
        pipeline.admin.create_registration(reference, subjects=["001017545", "213310873", "804735132"])
        pipeline.admin.generate(reference, 120, types={"UPDATE": 0.8, "SEED": 0.05, "TRANSFER": 0.05, "DELETE": 0.1})
    return pipeline


def _check(result, name):
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert evaluations, f"check {name} was not evaluated"
    return evaluations[0]


def test_sensor_lands_everything_and_requests_each_touched_day_once_per_interval(pipeline):
    first = pipeline.tick()

    day = today().isoformat()
    day_runs = [r for r in first.run_requests if r.partition_key == day]
    assert len(day_runs) == 1 and day_runs[0].tags[TRIGGER_TAG] == LANDING_TRIGGER
    assert any(r.partition_key is None for r in first.run_requests)  # monitored_companies
    assert pipeline.admin.stats()["responses_429"] == 0

    quiet = pipeline.tick(first.cursor)
    assert not quiet.run_requests and quiet.skip_reason

    pipeline.admin.generate("E2E_A", 5)
    within_interval = pipeline.tick(quiet.cursor)
    assert not within_interval.run_requests  # landed, but the day was requested less than 5 minutes ago
    assert day in json.loads(within_interval.cursor)["pending"]


def test_a_sensor_triggered_run_writes_only_what_is_new_and_a_rebuild_changes_nothing(pipeline):
    pipeline.tick()
    day = today()
    first = pipeline.materialize_day(day, landing_run=True)
    assert first.success
    files_before = pipeline.file_digests()
    rows_before = pipeline.table_rows(day)

    pipeline.admin.generate("E2E_A", 7, types={"UPDATE": 1})
    pipeline.tick()
    incremental = pipeline.materialize_day(day, landing_run=True)
    written = incremental.asset_materializations_for_node("notification_files")[0].metadata
    assert written["mode"].value == "incremental"
    assert written["notifications"].value == 7  # cost follows the new notifications, not the day
    assert written["files_written"].value == 3  # one page: json, csv, parquet

    files_after = pipeline.file_digests()
    assert set(files_before) < set(files_after)
    pages_before = {name: digest for name, digest in files_before.items() if name.startswith("notifications/")}
    assert all(files_after[name] == digest for name, digest in pages_before.items())  # no page file rewritten
    # The day's company_changes file is the one file rewritten: it now holds the new changes too.
    changes = company_changes_path(day)
    assert files_after[changes] != files_before[changes]
    assert pq.read_metadata(pipeline.data_dir / changes).num_rows == _view_rows(pipeline, day)

    rebuild = pipeline.materialize_day(day, landing_run=False)
    assert rebuild.success
    assert pipeline.file_digests() == files_after
    landed, notifications, _ = pipeline.table_rows(day)
    assert len(landed) == len(notifications) == len(rows_before[0]) + 7
    for name in ("landed_schema_valid", "duns_format", "no_duplicate_notifications", "files_match_landed",
                 "rows_match_landed"):
        assert _check(rebuild, name).passed, name


def test_backfill_replays_a_deleted_day_back_to_identical_files_and_rows(pipeline):
    pipeline.tick()
    day = today()
    assert pipeline.materialize_day(day, landing_run=False).success
    files, rows = pipeline.file_digests(), pipeline.table_rows(day)

    shutil.rmtree(pipeline.data_dir)
    with pipeline.engine.begin() as connection:
        for table in (dnb_notification_elements, dnb_notifications, dnb_landed_notifications, dnb_file_manifest):
            connection.execute(delete(table))

    backfill = pipeline.materialize_day(day, landing_run=False)

    assert backfill.success
    metadata = backfill.asset_materializations_for_node("dnb_notifications")[0].metadata
    assert metadata["recovered_by_replay"].value == len(rows[0]) == 240  # identical copies included
    assert metadata["replay_coverage"].value == "full"
    assert pipeline.file_digests() == files
    assert _strip_ids(pipeline.table_rows(day)) == _strip_ids(rows)


def test_a_day_older_than_the_replay_window_is_rebuilt_from_what_was_landed(emulator_factory, engine, tmp_path):
    emulator = emulator_factory(rate_limit_per_second=50, start_offset_seconds=-20 * 24 * 3600)
    pipeline = build_pipeline(emulator.url, engine, tmp_path, ["OLD_REF"])
    pipeline.admin.create_registration("OLD_REF")
    pipeline.admin.generate("OLD_REF", 30)
    pipeline.tick()
    old_day = today() - timedelta(days=20)

    result = pipeline.materialize_day(old_day, landing_run=False)

    assert result.success
    metadata = result.asset_materializations_for_node("dnb_notifications")[0].metadata
    assert metadata["replay_coverage"].value == "outside"
    assert "rebuilt from what was landed" in metadata["note"].value
    assert metadata["notifications"].value == 30
    assert result.asset_materializations_for_node("notification_files")[0].metadata["notifications"].value == 30


def test_a_day_without_notifications_still_materializes(pipeline):
    result = pipeline.materialize_day(today() - timedelta(days=3), landing_run=False)
    assert result.success
    assert result.asset_materializations_for_node("dnb_notifications")[0].metadata["notifications"].value == 0
    assert result.asset_materializations_for_node("notification_metrics")[0].metadata["notifications"].value == 0


def test_malformed_notifications_are_quarantined_and_the_check_warns_without_blocking(pipeline):
    pipeline.admin.queue("E2E_A", [{"type": "UPDATE", "organization": {"duns": "12-34"}, "elements": []}])
    pipeline.tick()

    result = pipeline.materialize_day(today(), landing_run=True)

    assert result.success
    quarantine = _check(result, "quarantine_empty")
    assert not quarantine.passed and quarantine.severity.value == "WARN"
    assert quarantine.metadata["quarantined"].value == 1
    assert "DUNS" in quarantine.metadata["reasons"].value
    assert result.asset_materializations_for_node("notification_files")  # the rest went on


def test_a_bad_duns_in_the_store_fails_the_blocking_check_and_stops_downstream(pipeline):
    pipeline.tick()
    day = today()
    with pipeline.engine.begin() as connection:
        connection.execute(
            insert(dnb_landed_notifications).values(
                notification_key="f" * 64, reference="E2E_A", duns="12345", notification_type="UPDATE",
                delivery_ts=pipeline.table_rows(day)[0][0].delivery_ts, delivery_day=day, page_position=0,
                payload='{"type":"UPDATE","organization":{"duns":"12345"}}', source="pull",
                landed_at=pipeline.table_rows(day)[0][0].delivery_ts,
            )
        )

    result = pipeline.materialize_day(day, landing_run=True)

    assert not result.success
    assert not _check(result, "duns_format").passed
    assert not result.asset_materializations_for_node("notifications_table")


def test_monitored_companies_and_metrics_reflect_the_day(pipeline):
    first = pipeline.tick()
    day = today()
    assert pipeline.materialize_day(day, landing_run=True).success
    metrics = pipeline.materialize_day(day, landing_run=True).asset_materializations_for_node(
        "notification_metrics"
    )[0].metadata
    assert metrics["notifications"].value == 240
    assert sum(metrics[f"type_{t}"].value for t in ("update", "seed", "transfer", "delete")) == 240

    import dagster as dg

    companies = dg.materialize([pipeline.companies], resources=pipeline.resources, selection=[pipeline.companies])
    metadata = companies.asset_materializations_for_node("monitored_companies")[0].metadata
    assert metadata["dagster/row_count"].value == 6  # 3 DUNS in each of 2 registrations
    assert metadata["notifications_applied"].value == 240
    assert first.cursor


def _view_rows(pipeline, day) -> int:
    with pipeline.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(dnb_company_changes).where(dnb_company_changes.c.delivery_day == day)
        ).scalar_one()


def _strip_ids(rows):
    """The rows without surrogate ids (re-landing assigns new ones; the content must be identical)."""
    landed, notifications, elements = rows
    return (
        [tuple(r) for r in landed],
        [tuple(v for k, v in r._mapping.items() if k != "landed_id") for r in notifications],
        [tuple(r) for r in elements],
    )


def test_landing_freshness_passes_after_a_tick_and_names_a_registration_never_pulled(pipeline, tmp_path):
    import dagster as dg

    pipeline.tick()
    fresh = dg.materialize([pipeline.companies, pipeline.freshness], resources=pipeline.resources)
    assert _check(fresh, "landing_freshness").passed

    registrations = tmp_path / "registrations"
    (registrations / "late.yaml").write_text((registrations / "e2e_a.yaml").read_text().replace("E2E_A", "LATE_REF"))
    stale = dg.materialize([pipeline.companies, pipeline.freshness], resources=pipeline.resources)
    evaluation = _check(stale, "landing_freshness")
    assert not evaluation.passed
    assert "LATE_REF: never pulled successfully" in evaluation.metadata["examples"].value


# ---- snapshots: a real mismatch inside the run's snapshot still fails ---------------------------------------


def test_a_table_row_nothing_landed_fails_rows_match_landed_and_blocks_downstream(pipeline):
    pipeline.tick()
    day = today()
    assert pipeline.materialize_day(day, landing_run=True).success
    with pipeline.engine.begin() as connection:  # a row no landed notification explains, inside every snapshot
        connection.execute(insert(dnb_notifications).values(
            notification_key="e" * 64, reference="E2E_A", duns="123456789", notification_type="UPDATE",
            delivery_ts=pipeline.table_rows(day)[0][0].delivery_ts, delivery_day=day, element_count=0, landed_id=1,
        ))
    pipeline.admin.generate("E2E_A", 3)
    request = next(r for r in pipeline.tick().run_requests if r.partition_key == day.isoformat())

    result = pipeline.materialize_day(day, landing_run=True, tags=request.tags)

    rows_match = _check(result, "rows_match_landed")
    assert not rows_match.passed
    assert f"{day}: 243 landed, 244 rows" in rows_match.metadata["examples"].value
    assert rows_match.metadata["landed_up_to"].value == int(request.tags["monitoring_pipeline/landed_up_to"])
    assert not result.asset_materializations_for_node("company_changes")
    assert not result.asset_materializations_for_node("notification_metrics")


def test_an_altered_file_fails_files_match_landed(pipeline):
    pipeline.tick()
    day = today()
    assert pipeline.materialize_day(day, landing_run=True).success
    page = sorted((pipeline.data_dir / "notifications").rglob("*.json"))[0]
    page.write_bytes(page.read_bytes()[:-20])

    result = pipeline.materialize_day(day, landing_run=True)

    files_match = _check(result, "files_match_landed")
    assert not files_match.passed
    assert "size differs from the manifest" in files_match.metadata["examples"].value


# ---- quarantine ------------------------------------------------------------------------------------------


def test_a_delivery_with_nothing_valid_requests_its_days_checks_again(pipeline):
    first = pipeline.tick()
    day = today()
    assert pipeline.materialize_day(day, landing_run=True).success
    pipeline.admin.queue("E2E_B", [{"type": "UPDATE", "organization": {"duns": "12-34"}, "elements": []}])

    again = pipeline.tick(first.cursor, run_interval_seconds=0)

    [request] = [r for r in again.run_requests if r.partition_key == day.isoformat()]
    assert request.run_key != next(r.run_key for r in first.run_requests if r.partition_key == day.isoformat())
    result = pipeline.materialize_day(day, landing_run=True, tags=request.tags)
    quarantine = _check(result, "quarantine_empty")
    assert not quarantine.passed and quarantine.severity.value == "WARN"
    assert quarantine.metadata["quarantined"].value == 1
    assert "E2E_B: organization: Value error, DUNS must be" in quarantine.metadata["reasons"].value
    with pipeline.engine.connect() as connection:  # what an alert about it needs: day, registration, reason
        row = connection.execute(select(dnb_quarantine)).one()
    assert (row.delivery_day, row.reference) == (day, "E2E_B") and "DUNS must be" in row.reason
