"""Health endpoints, the JSON API and its OpenAPI description, access control."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from openapi_spec_validator import validate
from sqlalchemy import select, update

from monitoring_pipeline.storage.schema import integration_states
from monitoring_pipeline_tests.ops.conftest import API_TOKEN, ops_config


def test_ready_names_the_stale_probe_sensor(ops_server, engine):
    server = ops_server()
    assert httpx.get(f"{server.url}/health/live").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"
    with engine.begin() as connection:
        connection.execute(update(integration_states).values(last_probe_at=datetime.now(UTC) - timedelta(hours=1)))
    stale = httpx.get(f"{server.url}/health/ready")
    assert stale.status_code == 503
    assert stale.json()["failed"] == ["probe_sensor"]
    assert "more than 300s" in stale.json()["checks"]["probe_sensor"]["detail"]


def test_the_openapi_description_is_valid_and_covers_the_api(ops_server):
    server = ops_server()
    document = httpx.get(f"{server.url}/openapi.json").json()
    validate(document)
    served = {route.path for route in server.app.routes if route.path.startswith("/api/")}
    assert served <= set(document["paths"])


def test_integration_metrics_over_a_period(ops_server, seeded):
    server = ops_server()
    down = seeded[0].down
    detail = httpx.get(f"{server.url}/api/v1/integrations/{down}", params={"period": "7d"}).json()
    assert detail["state"] == "DOWN" and detail["period"] == "7d"
    assert [o["cause"] for o in detail["outages"]] == ["HTTP 503 on 3 probes in a row", "connection refused"]
    assert len(detail["daily"]) >= 7
    assert httpx.get(f"{server.url}/api/v1/integrations/{down}", params={"period": "2y"}).status_code == 400
    assert httpx.get(f"{server.url}/api/v1/integrations/nope").status_code == 404
    performance = httpx.get(f"{server.url}/api/v1/performance", params={"period": "30d"}).json()
    assert {row["integration"] for row in performance["integrations"]} == set(seeded[0].integrations)
    assert performance["total_cost"] > 0


def test_writes_need_the_token_and_no_answer_repeats_it(ops_server, seeded):
    server = ops_server()
    silence = {"matchers": {"integration": "stripe"}, "duration_minutes": 30, "comment": "migration"}
    assert httpx.post(f"{server.url}/api/v1/silences", json=silence).status_code == 401
    wrong = httpx.post(f"{server.url}/api/v1/silences", json=silence, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "nope" not in wrong.text
    right = httpx.post(f"{server.url}/api/v1/silences", json=silence,
                       headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert right.status_code == 201 and right.json()["created_by"] == "api"
    bad = httpx.post(f"{server.url}/api/v1/silences", json={"matchers": {}},
                     headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert bad.status_code == 422
    for path in ("/", "/metrics", "/api/v1/integrations", "/openapi.json"):
        assert API_TOKEN not in httpx.get(server.url + path).text


def test_a_forced_probe_reports_without_recording(ops_server, sandbox, sandbox_admin, seeded, engine, tmp_path):
    from monitoring_pipeline_tests.ops.seed import integrations_file

    integrations_file(seeded[1].integrations_file, 12, sandbox_url=sandbox.url)
    server = ops_server()
    name = seeded[0].integrations[0]
    sandbox_admin.put_endpoint(name, status=503)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    assert httpx.post(f"{server.url}/api/v1/integrations/{name}/probe").status_code == 401
    answer = httpx.post(f"{server.url}/api/v1/integrations/{name}/probe", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["status_code"]) == ("failed", 503)
    with engine.connect() as connection:  # the state is the probe sensor's: unchanged
        assert connection.execute(select(integration_states.c.state).where(
            integration_states.c.integration == name)).scalar_one() == "UP"


def test_reads_need_the_token_when_access_is_token(ops_server):
    server = ops_server(ops_config(service={"access": "token"}))
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200
    assert httpx.get(f"{server.url}/health/live").status_code == 200  # probes of the orchestrator stay open


def test_a_forced_probe_of_a_push_integration_judges_its_pings(ops_server, seeded, engine, monkeypatch):
    import yaml

    from monitoring_pipeline.integrations.push import record_ping

    path = seeded[1].integrations_file
    raw = yaml.safe_load(path.read_text())
    raw["integrations"].append({"name": "nightly_export", "type": "push", "category": "data", "period": "1h",
                                "grace": "5m", "token_env": "NIGHTLY_PING_TOKEN"})
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("NIGHTLY_PING_TOKEN", "ping-token-0123456789abcdef")
    server = ops_server()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}

    def probe() -> dict:
        answer = httpx.post(f"{server.url}/api/v1/integrations/nightly_export/probe", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    nothing = probe()
    assert nothing["outcome"] is None and "no ping has arrived yet" in nothing["note"]
    now = datetime.now(UTC)
    record_ping(engine, "nightly_export", "success", now=now - timedelta(minutes=10))
    assert probe()["outcome"] == "up"
    record_ping(engine, "nightly_export", "fail", now=now, exit_status=3, message="disk full")
    failed = probe()
    assert (failed["outcome"], failed["error_class"]) == ("failed", "job_failed")
    assert "exit status 3" in failed["error"] and "disk full" in failed["error"]
    assert "ping-token-0123456789abcdef" not in json.dumps(failed)
