"""ProjectSettings: the one reader of the environment, and the .env file commands share with the demo."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitoring_pipeline.settings import (
    PROJECT_ROOT,
    ProjectSettings,
    SettingsError,
    load_env_file,
    recorded_first_day,
)


def test_defaults_put_everything_under_the_home_folder_and_this_checkout(tmp_path):
    settings = ProjectSettings.from_env({"MONITORING_PIPELINE_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'project.db'}"
    assert not settings.database_url_from_env
    assert settings.data_dir == tmp_path / "data"
    assert settings.registrations_dir == PROJECT_ROOT / "config" / "registrations"
    assert settings.integrations_file == PROJECT_ROOT / "config" / "integrations.yaml"
    assert settings.formats is None and settings.gzip is None  # the destinations file decides
    assert settings.dnb.base_url == "https://plus.dnb.com" and not settings.dnb.client_id_configured


def test_the_environment_overrides_each_setting(tmp_path):
    settings = ProjectSettings.from_env({
        "MONITORING_PIPELINE_HOME": str(tmp_path),
        "DATABASE_URL": "postgresql://u:secret@db/project",
        "MONITORING_PIPELINE_REGISTRATIONS_DIR": str(tmp_path / "regs"),
        "INTEGRATIONS_CONFIG": str(tmp_path / "integrations.yaml"),
        "NOTIFICATION_FORMATS": "parquet, csv",
        "NOTIFICATION_GZIP": "yes",
        "DNB_PARTITIONS_START": "2026-11-20",
        "DNB_RATE_LIMIT_PER_SECOND": "2.5",
        "DNB_CLIENT_ID": "key",
    })
    assert settings.database_url_from_env
    assert "secret" not in repr(settings)  # the URL may carry a password: never in a repr
    assert settings.registrations_dir == tmp_path / "regs"
    assert settings.integrations_file == tmp_path / "integrations.yaml"
    assert settings.formats == ("json", "csv", "parquet") and settings.gzip is True
    assert settings.partitions_start == date(2026, 11, 20)
    assert settings.dnb.rate_limit_per_second == 2.5 and settings.dnb.client_id == "key"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("NOTIFICATION_FORMATS", "json,xml", "NOTIFICATION_FORMATS: expected a comma-separated list"),
    ("NOTIFICATION_GZIP", "maybe", "NOTIFICATION_GZIP: expected true or false"),
    ("DNB_PARTITIONS_START", "yesterday", "DNB_PARTITIONS_START: expected a date as YYYY-MM-DD"),
    ("DNB_TICK_BUDGET_SECONDS", "90", "DNB_TICK_BUDGET_SECONDS: expected a number >= 1 and <= 50"),
    ("DNB_API_VERSION", "v9", "DNB_API_VERSION: expected one of v3, v2"),
])
def test_a_bad_value_names_the_variable_and_the_expected_form(name, value, expected):
    with pytest.raises(SettingsError, match=expected):
        ProjectSettings.from_env({name: value})


def test_the_env_file_fills_in_what_the_environment_does_not_set(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("MP_TEST_FROM_FILE=file\nMP_TEST_BOTH=file\n")
    monkeypatch.setenv("MP_TEST_BOTH", "environment")
    monkeypatch.delenv("MP_TEST_FROM_FILE", raising=False)
    try:
        assert load_env_file(env_file) == ["MP_TEST_FROM_FILE"]
        assert os.environ["MP_TEST_FROM_FILE"] == "file"
        assert os.environ["MP_TEST_BOTH"] == "environment"  # what is set wins
    finally:
        os.environ.pop("MP_TEST_FROM_FILE", None)
    assert load_env_file(Path(tmp_path / "absent.env")) == []


def test_partitions_start_by_default_at_the_first_day_recorded_minus_the_replay_window(tmp_path):
    today = datetime.now(UTC).date()
    first = ProjectSettings.from_env({"MONITORING_PIPELINE_HOME": str(tmp_path)})

    assert first.partitions_start == today - timedelta(days=14)
    assert (tmp_path / "first_day").read_text() == f"{today.isoformat()}\n"
    # Another process, or a reload on a later day, finds the same first day: the partitions do not move.
    (tmp_path / "first_day").write_text("2026-11-02\n")
    again = ProjectSettings.from_env({"MONITORING_PIPELINE_HOME": str(tmp_path)})
    assert again.partitions_start == date(2026, 10, 19)


def test_processes_starting_together_record_one_first_day(tmp_path):
    days = {recorded_first_day(tmp_path, date(2026, 12, 1 + n)) for n in range(5)}
    assert days == {date(2026, 12, 1)}
    assert [p.name for p in tmp_path.iterdir()] == ["first_day"]  # no temporary file left


def test_a_damaged_first_day_file_names_itself_and_the_way_out(tmp_path):
    (tmp_path / "first_day").write_text("soon\n")
    with pytest.raises(SettingsError, match=r"first_day: expected the deployment's first day as YYYY-MM-DD.*"
                                            r"DNB_PARTITIONS_START"):
        ProjectSettings.from_env({"MONITORING_PIPELINE_HOME": str(tmp_path)})


def test_dnb_partitions_start_wins_and_records_nothing(tmp_path):
    settings = ProjectSettings.from_env({"MONITORING_PIPELINE_HOME": str(tmp_path),
                                         "DNB_PARTITIONS_START": "2026-11-20"})
    assert settings.partitions_start == date(2026, 11, 20)
    assert not (tmp_path / "first_day").exists()
