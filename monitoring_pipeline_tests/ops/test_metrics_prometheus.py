"""/metrics as a real Prometheus (Debian's) scrapes it, queried over Prometheus' HTTP API; promtool finds no
problem in the exposition."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import httpx
import pytest

from monitoring_pipeline.defs.dnb.resources import DnbApiResource
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.httpserver import free_port
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.waiting import eventually

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                                reason="Debian's prometheus is installed by scripts/test")


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def test_promtool_finds_no_problem_in_the_exposition(ops_server):
    server = ops_server()
    text = httpx.get(f"{server.url}/metrics").text
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == ""
    assert "duns" not in text.lower()  # no per-company labels


def _fail_dnb_calls_for_real(emulator_url: str, engine, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Three 429s and one 503 from the emulator, met by the D&B resource's client, recorded at its teardown."""
    resource = DnbApiResource(base_url=emulator_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                              state_dir=str(state_dir), calls_database_url=engine.url.render_as_string(False))
    with EmulatorAdmin(emulator_url) as admin, dg.build_resources({"dnb": resource}) as built:
        client = built.dnb.get_client()
        client.list_registrations()  # the token first, without faults
        admin.faults(http_429={"count": 3, "retry_after": 0})
        client.list_registrations()
        admin.faults(http_5xx={"count": 1, "status": 503})
        client.list_registrations()


def test_prometheus_scrapes_the_series(ops_server, seeded, engine, emulator, tmp_path: Path):
    _fail_dnb_calls_for_real(emulator.url, engine, tmp_path / "dnb_state")
    server = ops_server()
    port = free_port()
    target = server.url.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ops\n"
                      f"    static_configs:\n      - targets: ['{target}']\n")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api/v1/query"

    def query(expression: str) -> dict[str, float]:
        result = httpx.get(api, params={"query": expression}, timeout=5).json()["data"]["result"]
        return {",".join(f"{k}={v}" for k, v in sorted(r["metric"].items()) if k not in ("job", "instance")):
                float(r["value"][1]) for r in result}

    try:
        assert eventually(lambda: query("up") == {"__name__=up": 1.0}, timeout=60,
                          ignore=(httpx.HTTPError, KeyError, ValueError))
        down = seeded[0].down
        assert query(f'integration_up{{integration="{down}"}}') == {
            f"__name__=integration_up,category=data,integration={down}": 0.0}
        assert query(f'integration_state{{integration="{down}"}}') == {
            f"__name__=integration_state,integration={down},state=DOWN": 1.0}
        assert query("sum(notifications_processed_total)") == {"": 300.0}
        assert query('sum by (type) (notifications_processed_total{registration="DEMO_RISK"})')["type=UPDATE"] > 0
        assert query("dnb_quarantine_size") == {"__name__=dnb_quarantine_size": 2.0}
        assert query('alert_notification_deliveries_total{channel_type="email",outcome="failed"}') == {
            "__name__=alert_notification_deliveries_total,channel_type=email,outcome=failed": 1.0}
        assert query("sum(alerts_firing)") == {"": 0.0}
        assert query("failover_events_total") == {"__name__=failover_events_total,failover_group=llm": 1.0}
        assert query("notifications_processing_duration_seconds_count") == {
            "__name__=notifications_processing_duration_seconds_count,stage=delivery_to_landed": 300.0,
            "__name__=notifications_processing_duration_seconds_count,stage=landed_to_materialized": 300.0}
        assert query("dnb_api_errors_total") == {
            "__name__=dnb_api_errors_total,reason=rate_limited": 3.0,
            "__name__=dnb_api_errors_total,reason=server_error": 1.0}
    finally:
        process.terminate()
        process.wait(timeout=30)
