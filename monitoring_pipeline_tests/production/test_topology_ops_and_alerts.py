"""The ops service and the alert engine in the topology: /metrics and /health/ready answer; an integration going down
fires an alert that the delivery sensor delivers to a webhook. Never skipped: the topology starts every service."""

from __future__ import annotations

import http.server
import threading

import httpx
import pytest
from sqlalchemy import create_engine, select

from monitoring_pipeline_tests.defs.dnb.pipeline import today
from monitoring_pipeline_tests.production.conftest import REFERENCE, integrations_file
from monitoring_pipeline_tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]


def test_the_ops_service_answers_metrics_and_readiness(deploy, sandbox, tmp_path):
    deployment = deploy(past_days=False, environment={
        "INTEGRATIONS_CONFIG": str(integrations_file(tmp_path / "integrations.yaml", sandbox.url, ["stripe"]))})
    assert "ops" in deployment.topology.processes
    deployment.admin.generate(REFERENCE, 10, types={"UPDATE": 1})
    assert eventually(lambda: deployment.file_count(today()) == 10, timeout=240, interval=1.0)
    ops = deployment.topology.ops_url

    def ready() -> bool:
        return httpx.get(ops + "/health/ready", timeout=5).status_code == 200

    assert eventually(ready, timeout=120, interval=2.0), httpx.get(ops + "/health/ready", timeout=5).text
    metrics = httpx.get(ops + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "# TYPE" in metrics.text


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_an_integration_going_down_fires_an_alert_that_is_delivered(deploy, sandbox, sandbox_admin, tmp_path):
    from monitoring_pipeline.storage.schema import alert_delivery_log

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sandbox_admin.put_endpoint("stripe", status=503)
        alerting = tmp_path / "alerting.yaml"
        alerting.write_text(
            "route:\n  receiver: ops\n"
            "receivers:\n  - name: ops\n    channels:\n      - type: webhook\n"
            f"        url: http://127.0.0.1:{server.server_port}/alerts\n")
        deployment = deploy(past_days=False, environment={
            "INTEGRATIONS_CONFIG": str(integrations_file(tmp_path / "integrations.yaml", sandbox.url, ["stripe"])),
            "ALERTING_CONFIG": str(alerting)})
        assert eventually(lambda: any(b"stripe" in body for body in _Recorder.received), timeout=240, interval=1.0), \
            "no alert about stripe reached the webhook"
        engine = create_engine(deployment.project_url)
        try:
            with engine.connect() as connection:
                outcomes = connection.execute(select(alert_delivery_log.c.receiver, alert_delivery_log.c.outcome)).all()
        finally:
            engine.dispose()
        assert ("ops", "delivered") in outcomes
    finally:
        server.shutdown()
