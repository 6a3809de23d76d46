"""A monitor wired to a scripted runner and a settable clock, for state, breaker, failover and SLA tests.

The runner is replaced only where a test is about what happens *after* a probe (states, breakers, failover,
storage, daily figures) and needs exact outcomes at exact times; probing itself is tested against real servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine

from monitoring_pipeline.integrations.config import IntegrationsFile, load_integrations
from monitoring_pipeline.integrations.monitor import HealthMonitor
from monitoring_pipeline.integrations.runner import DEGRADED, FAILED, UP, ProbeResult

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@dataclass
class ScriptedRunner:
    """Answers each probe with the outcome currently set for the integration (UP by default)."""

    clock: Clock
    outcomes: dict[str, str] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def run(self, integrations, time_budget):  # type: ignore[no-untyped-def]
        results = []
        for integration in integrations:
            self.calls.append(integration.name)
            outcome = self.outcomes.get(integration.name, UP)
            failed = outcome == FAILED
            results.append(ProbeResult(
                integration.name, self.clock.now, outcome, status_code=503 if failed else 200,
                latency_ms=None if failed else self.latency_ms.get(integration.name, 100.0 if outcome == UP else 900.0),
                error_class="http_status" if failed else None, error="status in 2xx (actual: 503)" if failed else None,
                attempts=2 if failed else 1,
            ))
        return results


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def write_config(tmp_path: Path, integrations: list[dict], **probing) -> IntegrationsFile:  # type: ignore[type-arg]
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"probing": probing, "integrations": integrations}))
    return load_integrations(path)


def scripted_monitor(engine: Engine, config: IntegrationsFile, routing_file: Path | None = None
                     ) -> tuple[HealthMonitor, ScriptedRunner, Clock]:
    clock = Clock()
    runner = ScriptedRunner(clock)
    monitor = HealthMonitor(engine, config, runner=runner, clock=clock, routing_file=routing_file)  # type: ignore[arg-type]
    return monitor, runner, clock


__all__ = ["DEGRADED", "FAILED", "UP", "Clock", "ScriptedRunner", "scripted_monitor", "write_config", "START"]
