"""What the status page shows, read from the project database in one pass (``StatusReader.snapshot``).

The 90-day history (one row per integration and day) and the last hour's p95 latencies are the costly parts: they
are kept for ``history_ttl`` / ``recent_ttl`` seconds and recomputed when the day changes; states, incidents,
registrations, today's notifications and alerts are read on every snapshot.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from monitoring_pipeline.config_errors import ConfigFileError
from monitoring_pipeline.integrations import store as probe_store
from monitoring_pipeline.integrations.config import IntegrationConfig, load_integrations
from monitoring_pipeline.integrations.state import STATE_DEGRADED, STATE_DOWN, STATE_PENDING, STATE_UP
from monitoring_pipeline.ops import alert_reads, delivery_reads, dnb_reads, integration_reads
from monitoring_pipeline.ops.provider_incidents import ProviderIncident, active_incidents
from monitoring_pipeline.service_status import destinations_status
from monitoring_pipeline.settings import ProjectSettings

HISTORY_DAYS = 90
STATE_ORDER = {STATE_DOWN: 0, STATE_PENDING: 1, STATE_DEGRADED: 2, "MAINTENANCE": 3, "UNKNOWN": 4, STATE_UP: 5}


@dataclass(frozen=True)
class IntegrationView:
    name: str
    category: str
    group: str | None
    description: str
    enabled: bool
    state: str
    since: datetime | None
    cause: str
    breaker: str | None
    sla: float
    bars: str  # one code per day, oldest first, today last (integration_reads.BAR_*)
    availability_today: float | None
    availability_90d: float | None
    latency_p95_ms: float | None
    last_latency_ms: float | None
    error_rate: float | None
    failover_group: str | None
    incidents: tuple[ProviderIncident, ...] = ()


@dataclass(frozen=True)
class CategoryView:
    name: str
    integrations: tuple[IntegrationView, ...]

    @property
    def worst(self) -> str:
        return min((i.state for i in self.integrations), key=lambda s: STATE_ORDER.get(s, 4), default="UNKNOWN")


@dataclass(frozen=True)
class StatusSnapshot:
    generated_at: datetime
    title: str
    first_day: date
    categories: tuple[CategoryView, ...]
    state_counts: dict[str, int]
    outages: tuple[integration_reads.Outage, ...]
    failovers: tuple[integration_reads.Failover, ...]
    routing: tuple[dict[str, Any], ...]
    provider_incidents: tuple[ProviderIncident, ...]
    registrations: tuple[dnb_reads.RegistrationLanding, ...]
    notifications_today: dict[str, int]
    quarantine_today: int
    quarantine_total: int
    destinations: tuple[dict[str, Any], ...]
    alerts_available: bool
    alerts: tuple[alert_reads.AlertView, ...]
    outbox: delivery_reads.OutboxBacklog
    broken_receivers: tuple[tuple[str, str], ...]
    config_error: str | None = None
    by_name: dict[str, IntegrationView] = field(default_factory=dict)
    cache_stamp: str = ""  # changes when the kept history or recent figures were recomputed

    @property
    def overall(self) -> str:
        """operational, degraded or outage: the banner at the top of the page."""
        if self.state_counts.get(STATE_DOWN) or any(i.impact in ("major", "critical")
                                                    for i in self.provider_incidents):
            return "outage"
        if self.state_counts.get(STATE_DEGRADED) or self.state_counts.get(STATE_PENDING) or self.provider_incidents:
            return "degraded"
        return "operational"

    def live(self) -> dict[str, Any]:
        """The small JSON the page's event stream carries: states by integration and a version of everything."""
        states = {name: view.state for name, view in self.by_name.items()}
        summary = {
            "overall": self.overall, "counts": self.state_counts, "alerts": len(self.alerts),
            "incidents": len(self.provider_incidents), "notifications_today": sum(self.notifications_today.values()),
            "quarantine_today": self.quarantine_today,
        }
        version_source = json.dumps([self.cache_stamp, states, summary, [i.id for i in self.provider_incidents],
                                     [a.id for a in self.alerts], [str(o.started_at) for o in self.outages[:5]],
                                     [r.last_success_at.isoformat() if r.last_success_at else None
                                      for r in self.registrations]], sort_keys=True)
        return {"generated_at": self.generated_at.isoformat(timespec="seconds"), "states": states, **summary,
                "version": hashlib.sha256(version_source.encode()).hexdigest()[:16]}


class StatusReader:
    """Builds snapshots for one database and configuration; safe to share between threads."""

    def __init__(self, engine: Engine, settings: ProjectSettings, title: str = "Service status",
                 history_ttl: float = 300.0, recent_ttl: float = 60.0) -> None:
        self.engine = engine
        self.settings = settings
        self.title = title
        self.history_ttl = history_ttl
        self.recent_ttl = recent_ttl
        self._lock = threading.Lock()
        self._history: tuple[float, date, integration_reads.DailyBars] | None = None
        self._snapshot: tuple[float, StatusSnapshot] | None = None
        self._build_lock = threading.Lock()
        self._recent: tuple[float, dict[str, integration_reads.RecentFigures]] | None = None
        self._config: tuple[float, list[IntegrationConfig], str | None] | None = None

    def integrations(self) -> tuple[list[IntegrationConfig], str | None]:
        """The integrations file's integrations (re-read when it changes) and its error, if it cannot be loaded."""
        path = Path(self.settings.integrations_file)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = -1.0
        with self._lock:
            if self._config is not None and self._config[0] == mtime:
                return self._config[1], self._config[2]
        try:
            configs, problem = list(load_integrations(path).integrations), None
        except ConfigFileError as error:
            configs, problem = [], str(error)
        with self._lock:
            self._config = (mtime, configs, problem)
        return configs, problem

    def history(self, today: date, monotonic: float, refresh: bool = False) -> integration_reads.DailyBars:
        """The bars of the days before today; computed when missing or a new day began, else kept (``refresh``:
        recomputed once ``history_ttl`` passed — the background refresher does that, not requests)."""
        with self._lock:
            cached = self._history
        if cached is not None and cached[1] == today and not (refresh and monotonic - cached[0] >= self.history_ttl):
            return cached[2]
        found = integration_reads.daily_bars(self.engine, today - timedelta(days=HISTORY_DAYS - 1), HISTORY_DAYS - 1)
        with self._lock:
            self._history = (monotonic, today, found)
        return found

    def recent(self, now: datetime, monotonic: float,
               refresh: bool = False) -> dict[str, integration_reads.RecentFigures]:
        """The last hour's probe figures, kept like ``history`` for ``recent_ttl``."""
        with self._lock:
            cached = self._recent
        if cached is not None and not (refresh and monotonic - cached[0] >= self.recent_ttl):
            return cached[1]
        found = integration_reads.recent_figures(self.engine, now - timedelta(hours=1))
        with self._lock:
            self._recent = (monotonic, found)
        return found

    def refresh_caches(self) -> None:
        """Recompute what is due (the ops app's background thread calls this every few seconds)."""
        now, monotonic = datetime.now(UTC), time.monotonic()
        self.history(now.date(), monotonic, refresh=True)
        self.recent(now, monotonic, refresh=True)

    def cache_stamp(self) -> str:
        """Changes whenever the kept history or recent figures are recomputed."""
        with self._lock:
            return f"{self._history[0] if self._history else 0}:{self._recent[0] if self._recent else 0}"

    def snapshot(self, max_age: float = 0.0) -> StatusSnapshot:
        """A snapshot at most ``max_age`` seconds old (0: a new one); one thread builds, the others wait for it."""
        with self._build_lock:
            with self._lock:
                cached = self._snapshot
            monotonic = time.monotonic()
            if cached is not None and monotonic - cached[0] <= max_age:
                return cached[1]
            snapshot = self.build(datetime.now(UTC), monotonic)
            with self._lock:
                self._snapshot = (monotonic, snapshot)
            return snapshot

    def build(self, now: datetime, monotonic: float) -> StatusSnapshot:
        today = now.date()
        configs, problem = self.integrations()
        states = integration_reads.current_states(self.engine)
        history = self.history(today, monotonic)
        recent = self.recent(now, monotonic)
        today_availability = integration_reads.today_availability(self.engine, states, now)
        incidents = active_incidents(self.engine)
        incidents_by_integration: dict[str, list[ProviderIncident]] = {}
        for incident in incidents:
            incidents_by_integration.setdefault(incident.integration, []).append(incident)
        first_day = today - timedelta(days=HISTORY_DAYS - 1)
        no_history = integration_reads.BAR_NO_DATA * (HISTORY_DAYS - 1)
        views: list[IntegrationView] = []
        for config in configs:
            current = states.get(config.name)
            today_share = today_availability.get(config.name)
            bars = history.codes.get(config.name, no_history) + integration_reads.bar_code(today_share, config.sla)
            past = history.mean_availability.get(config.name)
            days_seen = bars.count("g", 0, -1) + bars.count("y", 0, -1) + bars.count("r", 0, -1)  # C speed: 5,000 x 90
            if past is None:
                uptime = today_share
            elif today_share is None:
                uptime = past
            else:
                uptime = (past * days_seen + today_share) / (days_seen + 1)
            figures = recent.get(config.name)
            views.append(IntegrationView(
                name=config.name, category=config.category, group=config.group, description=config.description,
                enabled=config.enabled, state=current.state if current else "UNKNOWN",
                since=current.since if current else None,
                cause=current.cause if current else "never probed", breaker=current.breaker if current else None,
                sla=config.sla, bars=bars, availability_today=today_share, availability_90d=uptime,
                latency_p95_ms=figures.latency_p95_ms if figures else None,
                last_latency_ms=current.last_latency_ms if current else None,
                error_rate=figures.error_rate if figures else None,
                failover_group=config.failover.group if config.failover else None,
                incidents=tuple(incidents_by_integration.get(config.name, ())),
            ))
        by_category: dict[str, list[IntegrationView]] = {}
        for view in views:
            by_category.setdefault(view.category, []).append(view)
        categories = tuple(CategoryView(name, tuple(sorted(items, key=lambda v: v.name)))
                           for name, items in sorted(by_category.items()))
        counts = Counter(view.state for view in views if view.enabled)
        week_ago = now - timedelta(days=7)
        try:
            destinations = tuple(destinations_status(self.engine, self.settings.destinations_file,
                                                     self.settings.data_dir, self.settings))
        except ConfigFileError as error:
            destinations = ({"destination": None, "error": str(error)},)
        notifications_today = dnb_reads.counts_by_registration_and_type(self.engine, today, today + timedelta(days=1))
        by_type: Counter[str] = Counter()
        for (_reference, kind), count in notifications_today.items():
            by_type[kind] += count
        available = alert_reads.alerts_available(self.engine)
        return StatusSnapshot(
            generated_at=now, title=self.title, first_day=first_day, categories=categories,
            state_counts=dict(counts),
            outages=tuple(integration_reads.outages(self.engine, week_ago, now, limit=20)),
            failovers=tuple(integration_reads.failovers(self.engine, week_ago, now, limit=20)),
            routing=tuple(probe_store.routing_rows(self.engine)),
            provider_incidents=tuple(incidents),
            registrations=tuple(dnb_reads.registration_landings(self.engine)),
            notifications_today=dict(sorted(by_type.items())),
            quarantine_today=dnb_reads.quarantine_counts(self.engine, today, today + timedelta(days=1)),
            quarantine_total=dnb_reads.quarantine_counts(self.engine),
            destinations=destinations,
            alerts_available=available,
            alerts=tuple(alert_reads.active_alerts(self.engine)) if available else (),
            outbox=delivery_reads.outbox_backlog(self.engine, now),
            broken_receivers=tuple(delivery_reads.broken_receivers(self.engine)),
            config_error=problem,
            by_name={view.name: view for view in views},
            cache_stamp=self.cache_stamp(),
        )
