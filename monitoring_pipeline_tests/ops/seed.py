"""A project database with history, as the sensors and daily assets leave it: for the ops tests, the screenshots
and the benchmarks (which seed 5,000 integrations and 90 days)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import Engine, insert

from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline.storage.schema import (
    alert_delivery_log,
    dnb_landed_notifications,
    dnb_notifications,
    dnb_quarantine,
    dnb_registration_status,
    integration_call_counts,
    integration_failover_events,
    integration_health_days,
    integration_probe_hourly,
    integration_probe_results,
    integration_state_changes,
    integration_states,
    integration_usage_days,
)

CATEGORIES = ("payments", "messaging", "marketing", "data", "ai", "infrastructure")
SECONDS = ("up", "degraded", "pending", "down", "maintenance", "unknown")
CHUNK = 5000


@dataclass(frozen=True)
class Seeded:
    now: datetime
    integrations: list[str]
    down: str  # DOWN now, with an outage that began 20 minutes ago
    degraded: str
    stripe_like: str  # mapped to the "statuspage" webhook source, component "API"


def integrations_file(path: Path, count: int, *, sandbox_url: str = "http://127.0.0.1:9") -> list[str]:
    names = [f"api_{n:04d}" if count > 20 else name for n, name in enumerate(
        ["stripe", "paypal", "adyen", "twilio", "sendgrid", "mailchimp", "hubspot", "segment", "openai",
         "anthropic", "aws", "snowflake"] + [f"extra_{i}" for i in range(max(count - 12, 0))])][:count]
    integrations = []
    for index, name in enumerate(names):
        entry = {"name": name, "category": CATEGORIES[index % len(CATEGORIES)], "url": f"{sandbox_url}/{name}",
                 "sla": 99.9 if index % 3 else 99.5, "cost_per_call": 0.001}
        if index == 0:
            entry["status_page"] = {"source": "statuspage", "components": ["API", "cmp_api"]}
            entry["group"] = "checkout"
        if name in ("openai", "anthropic"):
            entry["failover"] = {"group": "llm", "role": "primary" if name == "openai" else "secondary"}
        integrations.append(entry)
    path.write_text(yaml.safe_dump({"probing": {"tick_budget": "40s"}, "integrations": integrations},
                                   sort_keys=False))
    return names


def new_database(folder: Path, integrations: int) -> tuple[Engine, list[str]]:
    """A migrated SQLite project database and an integrations file of ``integrations`` entries in ``folder``."""
    from monitoring_pipeline.storage.database import create_db_engine, migrate

    engine = create_db_engine(f"sqlite:///{folder / 'project.db'}")
    migrate(engine)
    return engine, integrations_file(folder / "integrations.yaml", integrations)


def settings_for(tmp: Path, integrations: Path, database_url: str) -> ProjectSettings:
    registrations = tmp / "registrations"
    registrations.mkdir(exist_ok=True)
    return ProjectSettings(home=tmp / "home", database_url=database_url, data_dir=tmp / "data",
                           partitions_start=date(2026, 1, 1), registrations_dir=registrations,
                           integrations_file=integrations)


def _insert(engine: Engine, table, rows: list[dict]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start:start + CHUNK])


def seed(engine: Engine, names: list[str], now: datetime, *, days: int = 90, probes_per_integration: int = 30,
         notifications: int = 300, seed_value: int = 7) -> Seeded:
    """Health history for ``names`` (one DOWN now, one DEGRADED), D&B landings for three registrations, deliveries."""
    rng = random.Random(seed_value)
    today = now.date()
    down, degraded = names[min(3, len(names) - 1)], names[min(1, len(names) - 1)]
    states, changes, results, health, hourly, usage = [], [], [], [], [], []
    for index, name in enumerate(names):
        state = "DOWN" if name == down else "DEGRADED" if name == degraded else "UP"
        since = now - timedelta(minutes=20) if name == down else now - timedelta(days=2, hours=index % 24)
        states.append({"integration": name, "state": state, "since": since, "cause": "HTTP 503 on 3 probes in a row"
                       if name == down else "", "failures": 3 if name == down else 0, "successes": 0, "slow": 0,
                       "fast": 0, "baseline": "UP", "breaker_state": "open" if name == down else "closed",
                       "breaker_failures": 0, "breaker_trial_successes": 0, "breaker_times_opened": 0,
                       "last_probe_at": now - timedelta(seconds=20), "last_outcome": "failed" if name == down else "up",
                       "last_latency_ms": 900.0 if name == degraded else 80.0 + index % 50, "updated_at": now})
        if name == down:
            changes.append({"integration": name, "changed_at": since, "from_state": "UP", "to_state": "DOWN",
                            "cause": "HTTP 503 on 3 probes in a row"})
            earlier = now - timedelta(days=3, hours=2)
            changes += [{"integration": name, "changed_at": earlier, "from_state": "UP", "to_state": "DOWN",
                         "cause": "connection refused"},
                        {"integration": name, "changed_at": earlier + timedelta(minutes=42), "from_state": "DOWN",
                         "to_state": "UP", "cause": "2 good probes"}]
        for n in range(probes_per_integration):
            at = now - timedelta(minutes=probes_per_integration - n)
            failed = name == down and n > probes_per_integration - 20
            results.append({"integration": name, "probed_at": at, "outcome": "failed" if failed else "up",
                            "state": "DOWN" if failed else state, "status_code": 503 if failed else 200,
                            "latency_ms": None if failed else (900 if name == degraded else 60) + rng.random() * 60,
                            "attempts": 1})
        for offset in range(days, 0, -1):
            day = today - timedelta(days=offset)
            bad = (index + offset) % 37 == 0
            availability = 0.97 if bad else 1.0 - rng.random() * 0.0008
            down_seconds = (1 - availability) * 86400
            health.append({"day": day, "integration": name, "probes": 1440, "failed": int(down_seconds / 60),
                           "availability": availability, "latency_p50_ms": 70.0, "latency_p95_ms": 140.0 + index % 90,
                           "latency_p99_ms": 220.0, "error_rate": down_seconds / 86400, "errors_by_class": "{}",
                           "seconds_up": 86400 - down_seconds, "seconds_degraded": 0.0, "seconds_pending": 0.0,
                           "seconds_down": down_seconds, "seconds_maintenance": 0.0, "seconds_unknown": 0.0,
                           "failover_events": 0, "sla_target": 99.9 if index % 3 else 99.5,
                           "sla_met": availability * 100 >= (99.9 if index % 3 else 99.5), "availability_30d": 0.999,
                           "budget_remaining": 0.4, "burn_rate": 0.5, "source": "hourly", "computed_at": now})
            usage.append({"day": day, "integration": name, "calls": 1440, "cost_per_call": 0.001, "cost": 1.44,
                          "computed_at": now})
        if len(names) <= 50:
            for hours_back in range(7 * 24, 0, -1):
                hour = (now - timedelta(hours=hours_back)).replace(minute=0, second=0, microsecond=0)
                hourly.append({"integration": name, "hour": hour, "probes": 60, "calls": 60, "failed": 0,
                               "degraded": 0, "errors_by_class": "{}", "latency_histogram": "{}",
                               "latency_p50_ms": 60 + rng.random() * 20, "latency_p95_ms": 120 + rng.random() * 80,
                               "latency_p99_ms": 250.0, "seconds_up": 3600.0, "seconds_degraded": 0.0,
                               "seconds_pending": 0.0, "seconds_down": 0.0, "seconds_maintenance": 0.0,
                               "seconds_unknown": 0.0})
    _insert(engine, integration_states, states)
    _insert(engine, integration_state_changes, changes)
    _insert(engine, integration_probe_results, results)
    _insert(engine, integration_health_days, health)
    _insert(engine, integration_usage_days, usage)
    _insert(engine, integration_probe_hourly, hourly)
    if "openai" in names:
        _insert(engine, integration_failover_events, [{
            "failover_group": "llm", "switched_at": now - timedelta(hours=5), "from_integration": "openai",
            "to_integration": "anthropic", "reason": "openai DOWN"}])
    seed_dnb(engine, now, notifications, rng)
    _insert(engine, alert_delivery_log, [
        {"outbox_id": n, "idempotency_key": f"k{n}", "receiver": "ops", "channel": "mail", "channel_type": "email",
         "kind": "trigger", "attempt": 1, "attempted_at": now - timedelta(minutes=n), "outcome": outcome,
         "status_code": 250 if outcome == "delivered" else 550, "detail": "", "latency_ms": 12.0}
        for n, outcome in enumerate(["delivered"] * 5 + ["retry", "failed"])])
    return Seeded(now, names, down, degraded, names[0])


REFERENCES = ("DEMO_STD", "DEMO_FINANCE", "DEMO_RISK")
TYPES = ("UPDATE", "UPDATE", "UPDATE", "SEED", "DELETE", "TRANSFER", "UNDER_REVIEW")


def seed_dnb(engine: Engine, now: datetime, count: int, rng: random.Random, day: date | None = None) -> None:
    day = day or now.date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    span = max(min((now - start).total_seconds(), 86400.0), 60.0)
    landed, notifications = [], []
    for n in range(count):
        delivered = start + timedelta(seconds=span * n / max(count, 1))
        reference, kind, duns = REFERENCES[n % 3], TYPES[n % len(TYPES)], f"{100000000 + n % 5000:09d}"
        key = f"{day.isoformat()}-{n:08d}"
        landed.append({"notification_key": key, "reference": reference, "duns": duns, "notification_type": kind,
                       "delivery_ts": delivered, "delivery_day": day, "page_position": n % 10,
                       "payload": json.dumps({"n": n}), "source": "pull",
                       "landed_at": (landed_at := delivered + timedelta(seconds=1 + rng.random() * 40)),
                       "materialized_at": landed_at + timedelta(seconds=5 + rng.random() * 60)})
        notifications.append({"notification_key": key, "reference": reference, "duns": duns,
                              "notification_type": kind, "delivery_ts": delivered, "delivery_day": day,
                              "element_count": 1, "landed_id": n + 1})
    _insert(engine, dnb_landed_notifications, landed)
    _insert(engine, dnb_notifications, notifications)
    _insert(engine, dnb_quarantine, [{"notification_key": f"q-{day}-{n}", "reference": "DEMO_RISK",
                                      "delivery_day": day, "reason": "organization.duns: missing", "payload": "{}",
                                      "source": "pull", "landed_at": now} for n in range(2)])
    with engine.begin() as connection:
        existing = {row[0] for row in connection.execute(dnb_registration_status.select().with_only_columns(
            dnb_registration_status.c.reference))}
        fresh = [r for r in REFERENCES if r not in existing]
        if fresh:
            connection.execute(insert(dnb_registration_status), [
                {"reference": r, "last_attempt_at": now - timedelta(seconds=25),
                 "last_success_at": now - timedelta(seconds=25), "landed_total": count // 3,
                 "quarantined_total": 2 if r == "DEMO_RISK" else 0,
                 "last_error": None} for r in fresh])
        connection.execute(insert(integration_call_counts).values(day=day, integration="dnb", calls=count // 10 + 5))


def seed_alerts(engine: Engine, integrations_path: Path, now: datetime, *, history: int = 0,
                seed_value: int = 7) -> int:
    """Real alerts: one evaluation of the alert engine (default rules) over what ``seed`` wrote, and ``history``
    resolved alerts of the 90 days before (copies of those, as the engine stores them). Returns the open alerts."""
    from dataclasses import replace

    from monitoring_pipeline.alerting import queries, store
    from monitoring_pipeline.alerting.config import parse_alerting
    from monitoring_pipeline.alerting.evaluation import AlertEngine
    from monitoring_pipeline.integrations.config import load_integrations

    AlertEngine(engine, parse_alerting(Path("(defaults)"), {}), load_integrations(integrations_path)).evaluate(now=now)
    with engine.connect() as connection:
        current = queries.list_alerts(connection, "open", 100_000)
    if history and current:
        rng = random.Random(seed_value)
        old = []
        for n in range(history):
            template = current[n % len(current)]
            fired = now - timedelta(days=90) + timedelta(seconds=rng.random() * 89 * 86400)
            acknowledged = fired + timedelta(minutes=rng.random() * 60) if n % 2 else None
            old.append(replace(template, id=-(n + 1), fingerprint=f"history-{n}", state="resolved",
                               active_since=fired, fired_at=fired, last_observed_at=fired, updated_at=fired,
                               acknowledged_at=acknowledged, acknowledged_by="alice" if acknowledged else None,
                               resolved_at=fired + timedelta(minutes=5 + rng.random() * 240), fire_at=None,
                               clear_at=None, _saved={}))
        with engine.begin() as connection:
            store.insert_alerts(connection, old)
    return len(current)
