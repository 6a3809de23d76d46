"""The ping routes (ops/ping.py) served for real on a loopback port, as the ops service mounts them: what a job's
curl sends is recorded against the right integration; an unknown token records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
import yaml
from starlette.applications import Starlette

from monitoring_pipeline.httpserver import BackgroundServer, uvicorn_server
from monitoring_pipeline.integrations.push import FAIL, START, SUCCESS, recent_pings
from monitoring_pipeline.ops.ping import ping_routes
from monitoring_pipeline.settings import ProjectSettings

EXPORT_TOKEN = "export-9f2c1d7e5b3a48c6a0e1f4d2"
BACKUP_TOKEN = "backup-1a2b3c4d5e6f7a8b9c0d1e2f"


class PingServer(BackgroundServer):
    label = "ping routes"

    def __init__(self, app: Starlette) -> None:
        super().__init__()
        self.app = app

    def _build_server(self) -> uvicorn.Server:
        return uvicorn_server(self.app)


@pytest.fixture
def served(tmp_path, engine, monkeypatch):
    monkeypatch.setenv("EXPORT_PING_TOKEN", EXPORT_TOKEN)
    monkeypatch.setenv("BACKUP_PING_TOKEN", BACKUP_TOKEN)
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"category": "data", "type": "push", "period": "1h"}, "integrations": [
        {"name": "export", "token_env": "EXPORT_PING_TOKEN"},
        {"name": "backup", "token_env": "BACKUP_PING_TOKEN"},
        {"name": "api", "type": "http", "url": "http://127.0.0.1:9/health"},
    ]}))
    settings = ProjectSettings.from_env({"INTEGRATIONS_CONFIG": str(path), "MONITORING_PIPELINE_HOME": str(tmp_path)})
    clock = iter(datetime(2026, 3, 2, tzinfo=UTC) + timedelta(seconds=n) for n in range(0, 10_000, 30))
    with PingServer(Starlette(routes=ping_routes(engine, settings, clock=lambda: next(clock)))) as server, \
            httpx.Client(base_url=server.url) as client:
        yield client, path


def test_pings_of_every_kind_are_recorded_against_their_integration(served, engine):
    client, _ = served
    assert client.get(f"/ping/{EXPORT_TOKEN}/start").text == "OK\n"
    assert client.post(f"/ping/{EXPORT_TOKEN}", content="exported rows=1200\n").status_code == 200
    assert client.head(f"/ping/{EXPORT_TOKEN}/fail").status_code == 200
    assert client.get(f"/ping/{EXPORT_TOKEN}/0").status_code == 200
    assert client.post(f"/ping/{BACKUP_TOKEN}/3", content=b"tar: disk full",
                       headers={"User-Agent": "backup.sh"}).status_code == 200
    export = recent_pings(engine, "export")
    assert [(p.kind, p.exit_status) for p in export] == [(SUCCESS, 0), (FAIL, None), (SUCCESS, None), (START, None)]
    assert export[2].message == "exported rows=1200" and export[2].duration_ms == 30_000.0
    (backup,) = recent_pings(engine, "backup")
    assert (backup.kind, backup.exit_status, backup.message) == (FAIL, 3, "tar: disk full")


def test_unknown_tokens_and_bad_exit_statuses_record_nothing(served, engine):
    client, path = served
    unknown = client.get("/ping/not-a-token-of-ours-at-all-0000")
    assert unknown.status_code == 404 and "no push integration has this token" in unknown.text
    assert client.get(f"/ping/{EXPORT_TOKEN}/256").status_code == 400
    assert client.post(f"/ping/{EXPORT_TOKEN}/later").status_code == 404
    assert client.delete(f"/ping/{EXPORT_TOKEN}").status_code == 405
    assert recent_pings(engine, "export") == []
    path.write_text("integrations: [")  # a broken file refuses pings rather than dropping them silently
    refused = client.get(f"/ping/{EXPORT_TOKEN}")
    assert refused.status_code == 503 and EXPORT_TOKEN not in refused.text
    assert recent_pings(engine, "export") == []


def test_a_short_token_is_never_accepted(served, engine, monkeypatch):
    client, _ = served
    monkeypatch.setenv("BACKUP_PING_TOKEN", "guessable")
    assert client.get("/ping/guessable").status_code == 404
    assert recent_pings(engine, "backup") == []


def test_the_demo_heartbeat_runs_fails_and_misses_through_the_routes(served, engine, monkeypatch):
    from monitoring_pipeline.integrations import heartbeat

    client, _ = served
    monkeypatch.setattr(heartbeat, "DEMO_CYCLE", ("success", "skip", "fail"))
    beat = heartbeat.DemoHeartbeat(str(client.base_url), EXPORT_TOKEN, every=0.3, work_seconds=0.05)
    beat.start()
    try:
        while beat.steps < 3:
            beat.join(0.05)
    finally:
        beat.stop()
    kinds = [(p.kind, p.exit_status) for p in reversed(recent_pings(engine, "export"))][:4]
    assert kinds == [(START, None), (SUCCESS, None), (START, None), (FAIL, 1)]  # the skipped step sent nothing
    assert recent_pings(engine, "export")[-2].message.startswith("exported rows=")
