"""A process killed (SIGKILL) between deciding transitions and recording them loses nothing and, restarted, decides
nothing twice: the same notifications with the same idempotency keys, exactly once in the outbox."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from monitoring_pipeline.alerting.queries import list_alerts
from monitoring_pipeline.storage.schema import alert_outbox
from monitoring_pipeline_tests.alerting.harness import T0, set_integration_state

pytestmark = pytest.mark.slow

CONFIG = """
default_rules: false
rules: [{name: down, source: integration_state, severity: critical}]
route: {receiver: team, group_wait: 0s, group_interval: 1m, repeat_interval: 1h}
escalation_policies: [{name: p, severities: [critical], levels: [{after: 0s, receivers: [oncall]}]}]
receivers: [{name: team}, {name: oncall}]
"""


def _evaluate(url: str, config: Path, seconds: float, crash: bool) -> subprocess.CompletedProcess[str]:
    now = T0.replace(second=0).timestamp() + seconds
    from datetime import UTC, datetime

    command = [sys.executable, "-m", "monitoring_pipeline_tests.alerting.evaluate_worker", url, str(config),
               datetime.fromtimestamp(now, UTC).isoformat()] + (["--crash"] if crash else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


def _outbox(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(connection.execute(select(alert_outbox.c.idempotency_key).order_by(alert_outbox.c.id)).scalars())


def test_a_killed_evaluation_is_redone_exactly_once(engine, tmp_path):
    config = tmp_path / "alerting.yaml"
    config.write_text(CONFIG)
    url = engine.url.render_as_string(hide_password=False)
    set_integration_state(engine, "stripe", "DOWN", T0)

    killed = _evaluate(url, config, 10, crash=True)
    assert killed.returncode == -signal.SIGKILL
    decided = killed.stdout.split()
    assert len(decided) == 2  # trigger to team, escalation to oncall: decided, never committed
    assert _outbox(engine) == []
    with engine.connect() as connection:
        assert list_alerts(connection, "all") == []  # the transition went with them

    restarted = _evaluate(url, config, 10, crash=False)
    assert restarted.returncode == 0, restarted.stderr
    assert _outbox(engine) == decided  # the same decisions, the same keys, once

    again = _evaluate(url, config, 20, crash=False)  # nothing new: nothing decided again
    assert again.returncode == 0, again.stderr
    assert _outbox(engine) == decided

    set_integration_state(engine, "stripe", "UP", T0.replace(second=30))
    killed = _evaluate(url, config, 40, crash=True)  # resolved, and the resolution due at once? not before 70
    assert killed.returncode == -signal.SIGKILL
    assert _outbox(engine) == decided
    with engine.connect() as connection:
        assert [a.state for a in list_alerts(connection, "all")] == ["firing"]  # the resolution was not recorded

    for seconds in (40, 70, 70, 100):  # restarted, then again at the flush (twice: the second finds it done)
        assert _evaluate(url, config, seconds, crash=False).returncode == 0
    final = _outbox(engine)
    assert final[:2] == decided
    assert sorted(key.split(":")[-2:] == ["resolution", "team"] or key.split(":")[-2:] == ["resolution", "oncall"]
                  for key in final[2:]) == [True, True]
    assert len(final) == len(set(final)) == 4
    with engine.connect() as connection:
        assert [a.state for a in list_alerts(connection, "all")] == ["resolved"]
