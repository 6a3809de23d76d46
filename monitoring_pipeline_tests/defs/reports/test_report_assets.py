"""daily_report and weekly_report in Dagster: materialized from the project database, stored, metadata with the
headline figures and the path, a backfill re-renders the same bytes; the schedules ask for the right partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from monitoring_pipeline.defs.reports.definitions import report_definitions
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.ops.config import OpsConfigError, load_ops_config
from monitoring_pipeline.settings import OpsSettings
from monitoring_pipeline_tests.defs.settings import PARTITIONS, SETTINGS
from monitoring_pipeline_tests.ops.seed import integrations_file, seed


@pytest.fixture
def reports_setup(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'project.db'}"
    names = integrations_file(tmp_path / "integrations.yaml", 6)
    ops_file = tmp_path / "ops.yaml"
    ops_file.write_text(yaml.safe_dump({"reports": {"daily_at": "07:30", "weekly_on": "mon"}}))
    settings = SETTINGS.__class__(**{**SETTINGS.__dict__, "database_url": url, "data_dir": tmp_path / "data",
                                     "integrations_file": tmp_path / "integrations.yaml",
                                     "ops": OpsSettings(config_file=ops_file)})
    database = ProjectDatabaseResource(url=url)
    seed(database.get_engine(), names, datetime.now(UTC))
    defs = dg.Definitions.merge(report_definitions(settings, PARTITIONS),
                                dg.Definitions(resources={"database": database}))
    return defs, settings


def test_the_daily_report_is_stored_with_its_figures_and_a_backfill_is_identical(reports_setup):
    defs, settings = reports_setup
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    job = defs.resolve_job_def("daily_report_job")
    result = job.execute_in_process(partition_key=day)
    assert result.success
    [materialization] = result.asset_materializations_for_node("daily_report")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    path = Path(metadata["path"])
    assert path == settings.data_dir / "reports" / day.replace("-", "/") / "daily_report.html"
    assert metadata["headline"] == "All well" and metadata["integrations_missed_sla"] == 0
    assert metadata["emailed_to"] == 0
    first = path.read_bytes()
    assert job.execute_in_process(partition_key=day).success
    assert path.read_bytes() == first


def test_the_schedules_ask_for_the_day_and_the_week_before(reports_setup):
    defs, _settings = reports_setup
    daily = defs.resolve_schedule_def("daily_report_schedule")
    weekly = defs.resolve_schedule_def("weekly_report_schedule")
    assert (daily.cron_schedule, weekly.cron_schedule) == ("30 7 * * *", "30 7 * * 1")
    at = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # a Monday
    repository = defs.get_repository_def()

    def context() -> dg.ScheduleEvaluationContext:
        return dg.build_schedule_context(scheduled_execution_time=at, repository_def=repository)

    [daily_run] = daily.evaluate_tick(context()).run_requests
    [weekly_run] = weekly.evaluate_tick(context()).run_requests
    assert (daily_run.partition_key, weekly_run.partition_key) == ("2026-12-06", "2026-11-30")
    weekly_keys = defs.resolve_assets_def("weekly_report").partitions_def.get_partition_keys(at)
    assert "2026-11-30" in weekly_keys


def test_a_bad_ops_file_names_the_field(tmp_path):
    path = tmp_path / "ops.yaml"
    path.write_text("reports:\n  daily_at: '8am'\n")
    with pytest.raises(OpsConfigError, match=r"reports.daily_at: expected a time of day as HH:MM"):
        load_ops_config(path)
    path.write_text("reports:\n  smtp: {host: mail, sender: r@example.com, password_env: 'hunter2-secret'}\n")
    with pytest.raises(OpsConfigError) as error:
        load_ops_config(path)
    assert "hunter2" not in str(error.value) and "reports.smtp.password_env" in str(error.value)
    path.write_text("webhooks:\n  Bad/Name: {type: generic, auth: {type: token, token_env: X}}\n")
    with pytest.raises(OpsConfigError, match="webhooks.Bad/Name"):
        load_ops_config(path)
