"""The code location loads, every resource builds from the environment, and the instance configs are valid."""

from __future__ import annotations

import importlib
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import dagster_instance_config

import monitoring_pipeline.definitions
from monitoring_pipeline.defs.dnb.registrations import dnb_registrations
from monitoring_pipeline.defs.dnb.resources import DnbApiResource
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_environment(monkeypatch, emulator, tmp_path):
    monkeypatch.setenv("DNB_BASE_URL", emulator.url)
    monkeypatch.setenv("DNB_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DNB_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return importlib.reload(monitoring_pipeline.definitions).defs


def test_definitions_load_without_any_environment(monkeypatch):
    for name in ("DNB_BASE_URL", "DNB_CLIENT_ID", "DNB_CLIENT_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    defs = importlib.reload(monitoring_pipeline.definitions).defs
    dg.Definitions.validate_loadable(defs)
    # As shipped, every remote destination is disabled: nothing to copy, so no catch-up sensor.
    assert "destination_catch_up_sensor" not in {s.name for s in defs.sensors}


def test_every_daily_asset_starts_where_the_deployment_began_and_reloads_agree(monkeypatch, tmp_path):
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DNB_PARTITIONS_START", raising=False)
    defs = importlib.reload(monitoring_pipeline.definitions).defs
    graph = defs.resolve_asset_graph()
    starts = {
        key.to_user_string(): graph.get(key).partitions_def.start.date()
        for key in graph.get_all_asset_keys() if graph.get(key).partitions_def is not None
    }
    first_day = date.fromisoformat((tmp_path / "home" / "first_day").read_text().strip())
    daily = {"dnb_notifications", "company_changes", "integration_health_daily", "integration_usage_daily"}
    assert daily <= set(starts)
    assert set(starts.values()) == {first_day - timedelta(days=14)}  # D&B and integration health alike

    (tmp_path / "home" / "first_day").write_text("2026-11-01\n")  # as if first loaded on that day
    reloaded = importlib.reload(monitoring_pipeline.definitions).defs
    assert reloaded.resolve_asset_graph().get(dg.AssetKey("dnb_notifications")).partitions_def.start.date() == \
        date(2026, 10, 18)


def test_the_module_holds_exactly_one_definitions_object():
    module = importlib.reload(monitoring_pipeline.definitions)
    assert [name for name, value in vars(module).items() if isinstance(value, dg.Definitions)] == ["defs"]


def test_every_resource_builds_from_the_environment(fake_environment, admin, tmp_path):
    admin.create_registration("ENV_REF")
    resources = fake_environment.resources
    assert set(resources) == {"dnb", "database", "storage", "registrations", "integrations", "reports",
                              "alert_delivery", "alerting"}
    with dg.build_resources(resources) as built:
        assert built.dnb.get_client().list_registrations() == ["ENV_REF"]
        assert str(built.database.get_engine().url) == f"sqlite:///{tmp_path / 'home' / 'project.db'}"
        assert built.storage.export_settings().base_path == tmp_path / "home" / "data"
        assert {c.reference for c in built.registrations.load()} == {"DEMO_STD", "DEMO_FINANCE", "DEMO_RISK"}
        assert built.integrations.load().integrations == ()  # the shipped example has every entry commented out
        assert isinstance(built.alert_delivery.receivers(), dict)


def test_a_database_password_never_reaches_resource_config(monkeypatch, postgres_url):
    secret_url = postgres_url.replace("postgres@", "postgres:s3cr3t-pw@")
    monkeypatch.setenv("DATABASE_URL", secret_url)
    defs = importlib.reload(monitoring_pipeline.definitions).defs
    for resource in defs.resources.values():
        assert "s3cr3t-pw" not in repr(resource)


def test_missing_credentials_fail_with_the_variable_name(monkeypatch):
    monkeypatch.delenv("DNB_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("DNB_CLIENT_ID", CLIENT_ID)
    defs = importlib.reload(monitoring_pipeline.definitions).defs
    with pytest.raises(Exception, match="DNB_CLIENT_SECRET"), dg.build_resources(defs.resources):
        pass


def test_dnb_registrations_reports_counts_and_keeps_the_secret_out(emulator, admin, tmp_path):
    admin.create_registration("ASSET_A")
    admin.create_registration("ASSET_B", deliveryTrigger="WEBHOOK")
    resource = DnbApiResource(
        base_url=emulator.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, state_dir=str(tmp_path / "s")
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([dnb_registrations], resources={"dnb": resource}, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("dnb_registrations")[0].metadata
        assert metadata["registrations"].value == 2
        assert metadata["pull_ready"].value == 1
        logs = instance.all_logs(result.run_id)
        assert CLIENT_SECRET not in repr(logs)


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster.production.yaml"])
def test_instance_configurations_are_valid(name, tmp_path, monkeypatch):
    for variable in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(variable, "x")
    shutil.copyfile(PROJECT_ROOT / name, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path), "dagster.yaml")
    assert config["telemetry"]["enabled"] is False
    assert os.path.exists(tmp_path / "dagster.yaml")


def test_a_bad_registration_file_stops_the_code_location_from_loading(monkeypatch, tmp_path):
    (tmp_path / "broken.yaml").write_text("reference: ../escape\nproductId: cmpelk\nportfolio: ['001017545']\n")
    monkeypatch.setenv("MONITORING_PIPELINE_REGISTRATIONS_DIR", str(tmp_path))
    with pytest.raises(ValueError) as raised:
        importlib.reload(monitoring_pipeline.definitions)
    message = str(raised.value)
    assert "broken.yaml" in message and "reference" in message


def test_a_bad_setting_names_the_variable_and_the_expected_form(monkeypatch):
    monkeypatch.setenv("NOTIFICATION_FORMATS", "json,xml")
    with pytest.raises(ValueError, match="NOTIFICATION_FORMATS: expected a comma-separated list of json, csv, parquet"):
        importlib.reload(monitoring_pipeline.definitions)


@pytest.fixture(autouse=True)
def _restore_definitions():
    """Reloading with a broken environment must not leave a broken module for later tests."""
    yield  # monkeypatch has restored the environment by the time this runs
    importlib.reload(monitoring_pipeline.definitions)
