"""`monitoring-pipeline status`: destinations, the D&B token state (never the token), registrations and the health
of every integration."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from monitoring_pipeline.cli import main
from monitoring_pipeline.destinations.status import record_outcome
from monitoring_pipeline.dnb.ratelimit import limiter_key
from monitoring_pipeline.dnb.token_cache import CachedToken, FileTokenCache, SqlTokenCache
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.storage.database import shared_engine
from monitoring_pipeline.storage.schema import dnb_registration_status

TOKEN = "eyJ-access-token-never-printed"
DESTINATIONS = """\
destinations:
  partner:
    type: sftp
    host: 127.0.0.1
    port: 2222
    username: dnb
    remote_base_path: /upload
    password_env: PARTNER_PASSWORD
    insecure_accept_any_host_key: true
  archive:
    type: s3
    enabled: false
    bucket: archive-bucket
"""


@pytest.fixture
def environment(monkeypatch, tmp_path):
    home = tmp_path / "home"
    (tmp_path / "destinations.yaml").write_text(DESTINATIONS)
    monkeypatch.setenv("MONITORING_PIPELINE_HOME", str(home))
    monkeypatch.setenv("MONITORING_PIPELINE_DESTINATIONS", str(tmp_path / "destinations.yaml"))
    monkeypatch.setenv("DNB_CLIENT_ID", "status-key")
    monkeypatch.setenv("DNB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("NOTIFICATION_FORMATS", raising=False)
    monkeypatch.setenv("INTEGRATIONS_CONFIG", str(tmp_path / "integrations.yaml"))
    (tmp_path / "integrations.yaml").write_text("integrations: []\n")
    return home


def seed(engine, token_cache) -> None:
    token_cache.store(CachedToken(access_token=TOKEN, expires_at=time.time() + 3 * 3600, issued_at=time.time()))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(dnb_registration_status), [
            {"reference": "DEMO_STD", "last_attempt_at": now, "last_success_at": now, "landed_total": 42,
             "quarantined_total": 1, "last_error": None},
            {"reference": "DEMO_RISK", "last_attempt_at": now, "last_success_at": None,
             "last_error": "DnbServerError: HTTP 503",
             "landed_total": 0, "quarantined_total": 0},
        ])
    record_outcome(engine, "partner", "sftp", "sftp://dnb@127.0.0.1:2222/upload", "2026-03-14",
                   error="sftp://dnb@127.0.0.1:2222/upload: connecting failed after 5 attempt(s): refused")


def run_status(*args: str):
    result = CliRunner().invoke(main, ["status", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_reports_every_destination_the_token_state_and_registrations(environment):
    engine = shared_engine(f"sqlite:///{environment / 'project.db'}")
    seed(engine, FileTokenCache(environment, limiter_key("http://127.0.0.1:9", "status-key")))

    text = run_status()
    assert "partner" in text and "sftp://dnb@127.0.0.1:2222/upload" in text
    assert "LAST ERROR" in text and "failed after 5 attempt(s)" in text
    assert "archive" in text and "disabled" in text
    assert "token: valid, expires" in text and "(in 2h 59m)" in text
    assert "DEMO_STD" in text and "landed 42" in text and "DnbServerError: HTTP 503" in text
    assert TOKEN not in text

    report = json.loads(run_status("--json"))
    by_name = {d["destination"]: d for d in report["destinations"]}
    assert set(by_name) == {"local", "partner", "archive"}
    assert by_name["partner"]["last_success_at"] is None and "refused" in by_name["partner"]["last_error"]
    assert report["dnb"]["token"] == "valid" and 3 * 3600 - 60 < report["dnb"]["expires_in_seconds"] <= 3 * 3600
    registrations = {r["reference"]: r for r in report["registrations"]}
    assert registrations["DEMO_STD"]["landed_total"] == 42 and registrations["DEMO_FINANCE"]["last_pull_at"] is None
    assert TOKEN not in json.dumps(report)


@pytest.mark.postgres
def test_status_reads_the_token_shared_through_postgresql(environment, monkeypatch, pg_engine, postgres_url):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    seed(pg_engine, SqlTokenCache(pg_engine, limiter_key("http://127.0.0.1:9", "status-key")))
    report = json.loads(run_status("--json"))
    assert report["dnb"]["cache"] == "project database" and report["dnb"]["token"] == "valid"
    assert TOKEN not in json.dumps(report)


def test_status_without_credentials_says_so(environment, monkeypatch):
    monkeypatch.delenv("DNB_CLIENT_ID")
    text = run_status()
    assert "not configured (DNB_CLIENT_ID is not set)" in text


INTEGRATIONS = """\
defaults: {category: payments, interval: 30s, timeout: 2s, retries: {attempts: 0}, thresholds: {failure: 1}}
integrations:
  - name: primary_pay
    url: ${SANDBOX_URL}/primary
    failover: {group: pay, role: primary}
  - name: backup_pay
    url: ${SANDBOX_URL}/backup
    failover: {group: pay, role: secondary}
  - name: reports
    enabled: false
    url: ${SANDBOX_URL}/reports
"""


def test_status_shows_each_integrations_health_and_the_active_provider(environment, monkeypatch, tmp_path, sandbox,
                                                                        sandbox_admin):
    sandbox_admin.put_endpoint("primary", status=503)
    sandbox_admin.put_endpoint("backup")
    monkeypatch.setenv("SANDBOX_URL", sandbox.url)
    path = tmp_path / "integrations.yaml"
    path.write_text(INTEGRATIONS)
    engine = shared_engine(f"sqlite:///{environment / 'project.db'}")
    HealthMonitor(engine, load_integrations(path)).run_pass()

    report = json.loads(run_status("--json"))["integrations"]
    assert report["error"] is None
    states = {i["integration"]: i for i in report["integrations"]}
    assert states["primary_pay"]["state"] == "DOWN" and "503" in states["primary_pay"]["cause"]
    assert states["backup_pay"]["state"] == "UP" and states["backup_pay"]["breaker"] == "closed"
    assert states["reports"]["enabled"] is False and states["reports"]["last_probe_at"] is None
    assert report["failover"] == [{"group": "pay", "active": "backup_pay", "reason": report["failover"][0]["reason"],
                                   "decided_at": report["failover"][0]["decided_at"]}]

    text = run_status()
    assert "primary_pay" in text and "DOWN" in text and "actual: 503" in text
    assert "failover pay: active backup_pay" in text
    assert "reports              disabled" in text


def test_status_reports_a_broken_integrations_file_and_still_prints_the_rest(environment, monkeypatch, tmp_path):
    (tmp_path / "integrations.yaml").write_text("integrations:\n  - name: x\n    url: ${UNSET_BASE_URL}/x\n")
    monkeypatch.delenv("UNSET_BASE_URL", raising=False)
    text = run_status()
    assert "Registrations" in text and "DEMO_STD" in text
    assert "CONFIGURATION ERROR" in text and "UNSET_BASE_URL" in text and "integrations.yaml" in text


def test_status_reports_a_broken_destinations_file_and_still_prints_the_rest(environment, monkeypatch, tmp_path):
    engine = shared_engine(f"sqlite:///{environment / 'project.db'}")
    seed(engine, FileTokenCache(environment, limiter_key("http://127.0.0.1:9", "status-key")))
    pasted = "sk_live_pasted_by_mistake"
    (tmp_path / "destinations.yaml").write_text(DESTINATIONS.replace("PARTNER_PASSWORD", pasted))

    text = run_status()
    assert "CONFIGURATION ERROR" in text and "destinations.partner.password_env" in text
    assert "destinations.yaml" in text and pasted not in text
    destinations, rest = text.split("D&B Direct+", 1)
    assert "CONFIGURATION ERROR" in destinations and "CONFIGURATION ERROR" not in rest
    # What the database knows is still shown: the last error of the destination the file no longer describes.
    assert "partner" in destinations and "failed after 5 attempt(s)" in destinations
    assert "token: valid" in rest and "DEMO_STD" in rest and "landed 42" in rest and "Integrations" in rest

    report = json.loads(run_status("--json"))
    [problem] = [d for d in report["destinations"] if d["destination"] is None]
    assert "destinations.partner.password_env" in problem["error"] and pasted not in json.dumps(report)
    by_name = {d["destination"]: d for d in report["destinations"] if d["destination"]}
    assert by_name["local"]["formats"] is None and by_name["local"]["files_stored"] == 0
    assert by_name["partner"]["declared"] is False and "refused" in by_name["partner"]["last_error"]
    assert report["dnb"]["token"] == "valid" and report["integrations"]["error"] is None
    assert {r["reference"] for r in report["registrations"]} >= {"DEMO_STD", "DEMO_RISK"}
