"""A non-HTTP integration lives the same life as an HTTP one: a real Redis that stops goes PENDING then DOWN,
explains the failure of what depends on it, fails its failover group over, and comes back UP when it restarts;
a maintenance window holds whatever the probes find."""

from __future__ import annotations

import pytest

from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.integrations.store import load_statuses, routing_rows
from monitoring_pipeline_tests.integrations import servers
from monitoring_pipeline_tests.integrations.scripted import Clock, write_config


@pytest.fixture
def cache():
    with servers.redis_server() as service:
        yield service


def test_a_stopped_redis_goes_down_explains_its_dependents_fails_over_and_recovers(tmp_path, sqlite_engine, cache,
                                                                                 redis_service, monkeypatch):
    monkeypatch.setenv("CACHE_PASSWORD", cache.password)
    monkeypatch.setenv("SPARE_PASSWORD", redis_service.password)
    common = {"category": "infrastructure", "interval": "10s", "timeout": "1s", "retries": {"attempts": 0},
              "thresholds": {"failure": 2, "success": 2}}
    config = write_config(tmp_path, [
        {**common, "name": "cache", "type": "redis", "host": cache.host, "port": cache.port,
         "password_env": "CACHE_PASSWORD", "failover": {"group": "sessions", "role": "primary"}},
        {**common, "name": "spare_cache", "type": "redis", "host": redis_service.host, "port": redis_service.port,
         "password_env": "SPARE_PASSWORD", "failover": {"group": "sessions", "role": "secondary"}},
        {**common, "name": "cache_port", "type": "tcp", "host": cache.host, "port": cache.port,
         "depends_on": "cache"},
        {**common, "name": "cache_in_maintenance", "type": "redis", "host": cache.host, "port": cache.port,
         "password_env": "CACHE_PASSWORD",
         "maintenance": [{"cron": "0 0 * * *", "duration": "12h", "description": "nightly rebuild"}]},
    ])
    clock = Clock()  # midnight UTC: inside the maintenance window
    monitor = HealthMonitor(sqlite_engine, config, runner=ProbeRunner(concurrency=10), clock=clock)

    def state_after_pass():
        clock.advance(10)
        outcome = monitor.run_pass(30)
        return {name: status.health.state for name, status in outcome.statuses.items()}, outcome

    states, _ = state_after_pass()
    assert states == {"cache": "UP", "spare_cache": "UP", "cache_port": "UP", "cache_in_maintenance": "MAINTENANCE"}
    assert routing_rows(sqlite_engine)[0]["active"] == "cache"

    cache.process.kill()  # a crash, not a shutdown
    cache.process.wait(10)
    states, _ = state_after_pass()
    assert states["cache"] == "PENDING" and states["cache_port"] == "PENDING"
    states, outcome = state_after_pass()
    assert states["cache"] == "DOWN" and states["cache_in_maintenance"] == "MAINTENANCE"
    down = {t.integration: t for t in outcome.transitions if t.to_state == "DOWN"}
    assert down["cache"].cause.startswith("2 consecutive failed probes; last connect")
    assert down["cache_port"].explained_by == "cache"
    assert routing_rows(sqlite_engine)[0]["active"] == "spare_cache"

    with servers.redis_server(port=cache.port, password=cache.password):
        states, _ = state_after_pass()
        assert states["cache"] == "DOWN"  # one good probe is not enough to leave DOWN
        states, _ = state_after_pass()
        assert states["cache"] == "UP" and states["cache_port"] == "UP"
        assert routing_rows(sqlite_engine)[0]["active"] == "cache"
    stored = load_statuses(sqlite_engine)
    assert stored["cache"].last_latency_ms is not None and stored["cache"].last_outcome == "up"

