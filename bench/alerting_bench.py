"""Benchmark the alert engine (not part of the test command).

1. Steady state: 5,000 integrations and 200 rules (the 21 default rules plus 179 of every source: state rules
   per category, asset checks, D&B events, thresholds and anomalies, polled every minute). CPU of one evaluation
   tick when nothing changed (median of 20 ticks), then with 50 and with 500 state changes since the last tick.
2. Muting: 10,000 firing alerts against 100 silences and 50 inhibition rules: the mute computation alone, and a
   whole evaluation tick that has to recompute every mute (a silence was just created).

CPU is this process's (time.process_time): the database server's share is not counted, the engine's is.

Run: .venv/bin/python bench/alerting_bench.py [--integrations 5000] [--alerts 10000] [--postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine, insert

from monitoring_pipeline.alerting.config import parse_alerting
from monitoring_pipeline.alerting.evaluation import AlertEngine
from monitoring_pipeline.alerting.matchers import parse_matcher
from monitoring_pipeline.alerting.muting import InhibitRule, MuteCandidate, Silence, compute_mutes
from monitoring_pipeline.alerting.silences import create_silence
from monitoring_pipeline.storage.database import create_db_engine, migrate
from monitoring_pipeline.storage.schema import integration_state_changes, integration_states

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
CATEGORIES = [f"category_{n}" for n in range(20)]


def rules(count: int) -> list[dict[str, object]]:
    """``count`` rules on top of the defaults, spread over every source."""
    made: list[dict[str, object]] = []
    n = 0
    while len(made) < count:
        category = CATEGORIES[n % len(CATEGORIES)]
        kind = n % 6
        name = f"rule_{n}"
        if kind == 0:
            made.append({"name": name, "source": "integration_state", "states": ["DOWN"],
                         "matchers": [f'category="{category}"'], "labels": {"team": f"team_{n % 7}"},
                         "annotations": {"summary": "{{ labels.integration }} is down"}})
        elif kind == 1:
            made.append({"name": name, "source": "integration_state", "states": ["DEGRADED"], "for": "5m",
                         "matchers": [f'category="{category}"']})
        elif kind == 2:
            made.append({"name": name, "source": "asset_check", "matchers": [f'asset=~"{category}.*"']})
        elif kind == 3:
            made.append({"name": name, "source": "dnb_event", "types": ["DELETE"], "references": [f"REF_{n}"]})
        elif kind == 4:
            made.append({"name": name, "source": "threshold", "metric": "integration_error_rate", "threshold": 0.5,
                         "matchers": [f'category="{category}"']})
        else:
            made.append({"name": name, "source": "landing_freshness", "max_age": "1h",
                         "matchers": [f'reference="REF_{n}"']})
        n += 1
    return made


def seed_integrations(engine: Engine, count: int, state: str = "UP") -> None:
    with engine.begin() as connection:
        connection.execute(insert(integration_states), [
            {"integration": f"api_{n}", "state": state, "since": T0, "cause": "seed", "updated_at": T0}
            for n in range(count)])
        connection.execute(insert(integration_state_changes), [
            {"integration": f"api_{n}", "changed_at": T0, "from_state": "UNKNOWN", "to_state": state,
             "cause": "seed"} for n in range(count)])


def change_states(engine: Engine, names: list[str], state: str, at: datetime) -> None:
    from sqlalchemy import update

    with engine.begin() as connection:
        connection.execute(update(integration_states).where(integration_states.c.integration.in_(names))
                           .values(state=state, since=at, cause="bench", updated_at=at))
        connection.execute(insert(integration_state_changes), [
            {"integration": name, "changed_at": at, "from_state": "UP", "to_state": state, "cause": "bench"}
            for name in names])


def cpu(action) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    action()
    return time.process_time() - started


def integrations_config(directory: Path, count: int):  # type: ignore[no-untyped-def]
    from monitoring_pipeline.integrations.config import load_integrations

    path = directory / "integrations.yaml"
    path.write_text(yaml.safe_dump({"integrations": [
        {"name": f"api_{n}", "category": CATEGORIES[n % len(CATEGORIES)], "url": f"http://127.0.0.1:9/{n}"}
        for n in range(count)]}))
    return load_integrations(path)


def steady_state(engine: Engine, directory: Path, integrations: int) -> None:
    config = parse_alerting(directory / "alerting.yaml", {
        "rules": rules(179),
        "route": {"receiver": "ops", "group_by": ["alertname", "category"], "group_wait": "30s",
                  "routes": [{"matchers": ['severity="critical"'], "receiver": "pager", "continue": True}]},
        "receivers": [{"name": "ops"}, {"name": "pager"}],
    })
    seed_integrations(engine, integrations)
    alert_engine = AlertEngine(engine, config, integrations_config(directory, integrations))
    now = T0
    first = cpu(lambda: alert_engine.evaluate(now=now))
    print(f"rules: {len(config.enabled_rules)} enabled; integrations: {integrations}")
    print(f"first evaluation (reads every integration, every polled rule due): {first:.3f} s CPU")
    samples = []
    for _ in range(20):
        now += timedelta(seconds=15)
        samples.append(cpu(lambda at=now: alert_engine.evaluate(now=at)))
    print(f"tick, nothing changed (median of 20, polled rules due every 4th): {statistics.median(samples):.4f} s CPU "
          f"(max {max(samples):.4f})")
    for changed in (50, 500):
        now += timedelta(seconds=15)
        names = random.sample([f"api_{n}" for n in range(integrations)], changed)
        change_states(engine, names, "DOWN", now)
        down = cpu(lambda at=now: alert_engine.evaluate(now=at))
        now += timedelta(seconds=30)
        flush = cpu(lambda at=now: alert_engine.evaluate(now=at))
        now += timedelta(seconds=15)
        change_states(engine, names, "UP", now)
        up = cpu(lambda at=now: alert_engine.evaluate(now=at))
        print(f"tick with {changed} integrations going DOWN: {down:.3f} s CPU; their first notifications "
              f"{flush:.3f} s; back UP: {up:.3f} s")


def muting(engine: Engine, directory: Path, count: int) -> None:
    rng = random.Random(7)
    candidates = [MuteCandidate(n, {"alertname": f"rule_{n % 40}", "integration": f"api_{n}",
                                    "category": CATEGORIES[n % 20], "severity": ("critical", "warning")[n // 50 % 2],
                                    "cluster": f"c{n % 50}"}, "integration_state", True) for n in range(count)]
    silences = []
    for n in range(100):
        matchers = (parse_matcher(f'integration="api_{rng.randrange(count)}"'),) if n % 4 else (
            parse_matcher(f'category=~"{CATEGORIES[n % 20]}|none"'), parse_matcher('severity="warning"'))
        silences.append(Silence(n, matchers, T0 - timedelta(hours=1), T0 + timedelta(hours=1), "bench", "bench"))
    inhibit = [InhibitRule((parse_matcher(f'alertname="rule_{n % 40}"'), parse_matcher('severity="critical"')),
                           (parse_matcher('severity="warning"'),), ("cluster",)) for n in range(50)]
    seconds = cpu(lambda: compute_mutes(candidates, silences=silences, inhibit_rules=inhibit, now=T0))
    muted = compute_mutes(candidates, silences=silences, inhibit_rules=inhibit, now=T0)
    print(f"mutes of {count} firing alerts against 100 silences and 50 inhibition rules: {seconds:.3f} s CPU "
          f"({sum(m.silenced for m in muted.values())} silenced, {sum(m.inhibited for m in muted.values())} "
          "inhibited)")

    config = parse_alerting(directory / "muting.yaml", {
        "default_rules": False,
        "rules": [{"name": "down", "source": "integration_state"}],
        "inhibit_rules": [{"source_matchers": [f'integration="api_{n}"'], "target_matchers": ['severity="warning"'],
                           "equal": ["category"]} for n in range(50)],
        "route": {"receiver": "ops", "group_by": ["category"], "group_wait": "1h"},
        "receivers": [{"name": "ops"}],
    })
    seed_integrations(engine, count, state="DOWN")
    alert_engine = AlertEngine(engine, config, integrations_config(directory, count))
    first = cpu(lambda: alert_engine.evaluate(now=T0))
    with engine.begin() as connection:
        for n in range(100):
            create_silence(connection, [f"integration=api_{n * 7}"], T0, T0 + timedelta(hours=1), "bench", "bench",
                           T0)
    tick = cpu(lambda: alert_engine.evaluate(now=T0 + timedelta(seconds=15)))
    print(f"{count} alerts firing at once (first evaluation, grouping included): {first:.3f} s CPU; the tick after "
          f"100 silences were created (every mute recomputed): {tick:.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--integrations", type=int, default=5000)
    parser.add_argument("--alerts", type=int, default=10000)
    parser.add_argument("--postgres", action="store_true", help="Use a throwaway PostgreSQL database (else SQLite).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        for name, run in (("steady", lambda e: steady_state(e, directory, args.integrations)),
                          ("muting", lambda e: muting(e, directory, args.alerts))):
            if args.postgres:
                from _common import throwaway_database

                with throwaway_database() as url:
                    engine = create_db_engine(url)
                    migrate(engine)
                    run(engine)
                    engine.dispose()
            else:
                engine = create_db_engine(f"sqlite:///{directory / name}.db")
                migrate(engine)
                run(engine)
                engine.dispose()


if __name__ == "__main__":
    main()
