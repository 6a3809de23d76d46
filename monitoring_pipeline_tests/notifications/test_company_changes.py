"""company_changes: the day's element changes as one Parquet file, equal to the view, atomic and rebuildable."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
from sqlalchemy import delete, select

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.notifications.company_changes import write_changes_file
from monitoring_pipeline.notifications.day_tables import build_day_tables
from monitoring_pipeline.notifications.files import ExportSettings, day_records
from monitoring_pipeline.notifications.files.render import ELEMENT_COLUMNS
from monitoring_pipeline.notifications.snapshots import take_snapshot
from monitoring_pipeline.storage.schema import (
    dnb_company_changes,
    dnb_landed_notifications,
    dnb_notification_elements,
    dnb_notifications,
)
from monitoring_pipeline_tests.notifications.test_day_tables import land

DAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PATH = "company_changes/2026/11/20/company_changes_20261120.parquet"


def _tabled_day(engine, *, pages: int = 3) -> None:
    for page in range(pages):
        land(engine, 30, at=NOON + timedelta(minutes=page), reference=("REF_A", "REF_B")[page % 2], seed=page + 1,
             types={"UPDATE": 0.7, "DELETE": 0.2, "SEED": 0.1})
    build_day_tables(engine, DAY, rebuild=True)


def _view(engine) -> list[dict[str, str | None]]:
    """The day's changes as the dnb_company_changes view has them, in the file's order and form."""
    view = dnb_company_changes.c
    with engine.connect() as connection:
        rows = connection.execute(
            select(dnb_company_changes).where(view.delivery_day == DAY)
            .order_by(view.delivery_ts, view.reference, view.notification_key, view.position)
        ).all()
    return [
        {"notification_key": r.notification_key, "registration_reference": r.reference, "duns": r.duns,
         "type": r.notification_type, "delivery_timestamp": format_millis(r.delivery_ts), "element": r.element,
         "previous": r.previous or "null", "current": r.current or "null",
         "element_timestamp": None if r.changed_at is None else format_millis(r.changed_at)}
        for r in rows
    ]


def test_the_day_file_holds_every_change_of_the_view_in_delivery_order(engine, tmp_path):
    _tabled_day(engine)
    settings = ExportSettings(tmp_path / "out")

    result = write_changes_file(engine, settings, DAY)

    table = pq.read_table(settings.base_path / PATH)
    assert result.path == PATH and table.column_names == list(ELEMENT_COLUMNS)
    assert table.to_pylist() == _view(engine)
    assert result.changes == table.num_rows > 0
    assert result.companies == len({row["duns"] for row in table.to_pylist()})
    assert result.top_elements[0][1] == max(result.top_elements, key=lambda item: item[1])[1]
    record = day_records(engine, "local", DAY)[PATH]
    data = (settings.base_path / PATH).read_bytes()
    assert (record.count, record.size, record.sha256) == (table.num_rows, len(data), hashlib.sha256(data).hexdigest())
    assert list((settings.base_path / PATH).parent.iterdir()) == [settings.base_path / PATH]  # no temporary left


def test_small_row_groups_keep_the_same_rows(engine, tmp_path, monkeypatch):
    from monitoring_pipeline.notifications import company_changes

    _tabled_day(engine)
    monkeypatch.setattr(company_changes, "ROW_GROUP_ROWS", 7)
    settings = ExportSettings(tmp_path / "out")

    write_changes_file(engine, settings, DAY)

    assert pq.ParquetFile(settings.base_path / PATH).metadata.num_row_groups > 1
    assert pq.read_table(settings.base_path / PATH).to_pylist() == _view(engine)


def test_a_backfill_rebuilds_identical_bytes(engine, tmp_path):
    _tabled_day(engine)
    settings = ExportSettings(tmp_path / "out")
    write_changes_file(engine, settings, DAY)
    before = (settings.base_path / PATH).read_bytes()
    with engine.begin() as connection:  # the day's rows are gone; re-landed they get new ids
        for table in (dnb_notification_elements, dnb_notifications, dnb_landed_notifications):
            connection.execute(delete(table))
    (settings.base_path / PATH).unlink()
    _tabled_day(engine)

    write_changes_file(engine, settings, DAY)

    assert (settings.base_path / PATH).read_bytes() == before


def test_only_the_runs_snapshot_is_written(engine, tmp_path):
    _tabled_day(engine, pages=2)
    snapshot = take_snapshot(engine)
    land(engine, 20, at=NOON + timedelta(hours=1), seed=9, types={"UPDATE": 1})
    build_day_tables(engine, DAY, rebuild=False)  # a newer run tabled those too
    settings = ExportSettings(tmp_path / "out")

    within = write_changes_file(engine, settings, DAY, snapshot=snapshot)
    everything = write_changes_file(engine, ExportSettings(tmp_path / "all"), DAY)

    rows = pq.read_table(settings.base_path / PATH).to_pylist()
    assert within.changes == len(rows) < everything.changes
    assert all(row["delivery_timestamp"] < format_millis(NOON + timedelta(hours=1)) for row in rows)


def test_a_day_without_changes_has_no_file_and_a_stale_one_goes(engine, tmp_path):
    settings = ExportSettings(tmp_path / "out")
    assert write_changes_file(engine, settings, DAY).path is None
    assert not (settings.base_path / "company_changes").exists()

    _tabled_day(engine, pages=1)
    write_changes_file(engine, settings, DAY)
    with engine.begin() as connection:
        connection.execute(delete(dnb_notification_elements))

    cleared = write_changes_file(engine, settings, DAY)

    assert cleared.removed and cleared.path is None
    assert not (settings.base_path / PATH).exists() and day_records(engine, "local", DAY) == {}




def test_an_incremental_run_appends_and_gives_the_bytes_a_rebuild_gives(engine, tmp_path, monkeypatch):
    from monitoring_pipeline.notifications import company_changes

    monkeypatch.setattr(company_changes, "ROW_GROUP_ROWS", 7)  # several full row groups and a partial one
    _tabled_day(engine, pages=2)
    settings = ExportSettings(tmp_path / "out")
    write_changes_file(engine, settings, DAY, incremental=True)  # no file yet: written whole
    land(engine, 25, at=NOON + timedelta(hours=1), reference="REF_A", seed=21, types={"UPDATE": 1})
    build_day_tables(engine, DAY, rebuild=False)

    appended = write_changes_file(engine, settings, DAY, incremental=True)
    rebuilt = write_changes_file(engine, ExportSettings(tmp_path / "rebuilt"), DAY)

    assert appended.appended and appended.appended == rebuilt.changes - (appended.changes - appended.appended)
    assert (settings.base_path / PATH).read_bytes() == (tmp_path / "rebuilt" / PATH).read_bytes()
    assert pq.read_table(settings.base_path / PATH).to_pylist() == _view(engine)
    assert (appended.changes, appended.companies, appended.top_elements) == (
        rebuilt.changes, rebuilt.companies, rebuilt.top_elements)


def test_a_change_landed_before_the_files_last_row_makes_an_incremental_run_rebuild(engine, tmp_path):
    _tabled_day(engine, pages=2)
    settings = ExportSettings(tmp_path / "out")
    write_changes_file(engine, settings, DAY)
    land(engine, 10, at=NOON - timedelta(hours=1), reference="REF_A", seed=31, types={"UPDATE": 1})  # a late replay
    build_day_tables(engine, DAY, rebuild=False)

    result = write_changes_file(engine, settings, DAY, incremental=True)

    assert result.appended is None  # written whole
    assert pq.read_table(settings.base_path / PATH).to_pylist() == _view(engine)


def test_an_altered_file_is_rewritten_whole_by_an_incremental_run(engine, tmp_path):
    _tabled_day(engine, pages=2)
    settings = ExportSettings(tmp_path / "out")
    write_changes_file(engine, settings, DAY)
    before = (settings.base_path / PATH).read_bytes()
    (settings.base_path / PATH).write_bytes(before[:100])

    result = write_changes_file(engine, settings, DAY, incremental=True)

    assert result.appended is None and (settings.base_path / PATH).read_bytes() == before
