"""Every domain is in the single code location and in exactly one location of the split one, and the split
locations together define what the single one does."""

from __future__ import annotations

import dagster as dg
import pytest

from monitoring_pipeline.defs.project import DOMAINS, project_definitions
from monitoring_pipeline.production import locations
from monitoring_pipeline.production.topology import SPLIT_LOCATIONS
from monitoring_pipeline.settings import ProjectSettings


@pytest.fixture
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)


def _contents(defs: dg.Definitions) -> dict[str, set[str]]:
    repository = defs.get_repository_def()
    return {
        "assets": {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()},
        "checks": {key.to_user_string() for key in repository.asset_graph.asset_check_keys},
        "jobs": {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")},
        "sensors": {sensor.name for sensor in repository.sensor_defs},
        "schedules": {schedule.name for schedule in repository.schedule_defs},
        "resources": set(defs.resources or {}),
    }


def test_each_domain_is_in_exactly_one_split_location():
    assert [location.attribute for location in SPLIT_LOCATIONS] == list(locations.LOCATION_DOMAINS)
    placed = [domain for domains in locations.LOCATION_DOMAINS.values() for domain in domains]
    assert sorted(placed) == sorted(DOMAINS), "a domain is missing from the split locations, or in two"


def test_the_split_locations_together_define_what_the_single_location_does(environment):
    single = _contents(project_definitions(ProjectSettings.from_env()))
    split = [_contents(getattr(locations, location.attribute)()) for location in SPLIT_LOCATIONS]
    for kind in ("assets", "checks", "jobs", "sensors", "schedules"):
        parts = [contents[kind] for contents in split]
        assert set().union(*parts) == single[kind], kind
        if kind != "assets":  # assets of another location appear as external specs; the rest is defined once
            assert sum(len(part) for part in parts) == len(single[kind]), f"{kind} defined in two locations"
    assert set().union(*(contents["resources"] for contents in split)) == single["resources"]
    assert {"alert_evaluation_sensor", "alert_delivery_sensor", "dnb_landing_sensor"} <= split[0]["sensors"]
    assert {"daily_report_job", "weekly_report_job"} <= split[0]["jobs"]


def test_an_unknown_domain_is_refused(environment):
    with pytest.raises(ValueError, match="unknown domains \\['billing'\\]"):
        project_definitions(ProjectSettings.from_env(), ("dnb", "billing"))
