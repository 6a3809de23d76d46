"""``/metrics``: the Prometheus exposition, computed from the project database at scrape time.

Low cardinality by design: labels are registrations, notification types, integrations, categories, failover
groups, severities, channel types and outcomes, never a DUNS or an alert. Counters are totals kept in the
database (so every process, and a restarted service, reports the same series); past days' notification counts
are cached per day, today's are read on every scrape.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from sqlalchemy import Engine, func, select

from monitoring_pipeline.integrations.state import STATE_DEGRADED, STATE_PENDING, STATE_UP
from monitoring_pipeline.ops import alert_reads, delivery_reads, dnb_reads, integration_reads
from monitoring_pipeline.ops.snapshot import StatusReader
from monitoring_pipeline.storage.schema import dnb_landed_notifications

_AVAILABLE = (STATE_UP, STATE_DEGRADED, STATE_PENDING)
_Histogram = tuple[list[int], int, float]  # cumulative bucket counts (+Inf last), count, sum


class _PastDays:
    """Notification counts and landing durations of days before today: they change only when a replay lands a
    missed notification, so they are recomputed when the day changes or every ``ttl`` seconds."""

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[date, float, Counter[tuple[str, str]], dict[str, _Histogram]] | None = None

    def get(self, engine: Engine, today: date, monotonic: float
            ) -> tuple[Counter[tuple[str, str]], dict[str, _Histogram]]:
        with self._lock:
            cached = self._cached
        if cached is not None and cached[0] == today and monotonic - cached[1] < self.ttl:
            return cached[2], cached[3]
        with engine.connect() as connection:
            oldest = connection.execute(select(func.min(dnb_landed_notifications.c.delivery_day))).scalar_one()
        start = oldest or today
        counts = dnb_reads.counts_by_registration_and_type(engine, start, today)
        histograms = dnb_reads.stage_histograms(engine, start, today)
        with self._lock:
            self._cached = (today, monotonic, counts, histograms)
        return counts, histograms


class DatabaseCollector(Collector):
    """Every metric of the ops service, read from the database on ``collect``."""

    def __init__(self, reader: StatusReader) -> None:
        self.reader = reader
        self.engine = reader.engine
        self._past = _PastDays()

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        monotonic = time.monotonic()
        yield from self._dnb(now, monotonic)
        yield from self._integrations(now, monotonic)
        yield from self._failovers()
        yield from self._alerts(now)

    def exposition(self) -> bytes:
        """What ``generate_latest`` over ``collect`` gives (same families, same text), the per-integration gauges
        formatted directly: with 5,000 integrations they are 25,000 samples, and prometheus_client's general
        formatter spends ~90 ms on them against ~30 ms here."""
        now = datetime.now(UTC)
        monotonic = time.monotonic()
        rest = _Families([*self._dnb(now, monotonic), *self._failovers(), *self._alerts(now)])
        return generate_latest(rest) + gauge_text(self._integrations(now, monotonic))

    def _dnb(self, now: datetime, monotonic: float) -> Iterator[Metric]:
        today = now.date()
        calls = CounterMetricFamily("dnb_api_calls", "D&B Direct+ calls made by every process of the project.")
        calls.add_metric([], dnb_reads.dnb_calls(self.engine))
        yield calls
        errors = CounterMetricFamily("dnb_api_errors", "D&B Direct+ calls that failed, by reason (rate_limited, "
                                     "server_error, auth, not_found, client_error, transport, malformed_response).",
                                     labels=["reason"])
        for reason, count in dnb_reads.dnb_errors(self.engine).items():
            errors.add_metric([reason], count)
        yield errors
        past_counts, past_histograms = self._past.get(self.engine, today, monotonic)
        counts = past_counts + dnb_reads.counts_by_registration_and_type(self.engine, today, today + timedelta(days=1))
        processed = CounterMetricFamily("notifications_processed", "D&B notifications landed, by registration and "
                                        "notification type.", labels=["registration", "type"])
        for (reference, kind), count in sorted(counts.items()):
            processed.add_metric([reference, kind], count)
        yield processed
        today_histograms = dnb_reads.stage_histograms(self.engine, today, today + timedelta(days=1))
        duration = HistogramMetricFamily(
            "notifications_processing_duration_seconds",
            "Seconds a D&B notification spent in each stage: from D&B's delivery timestamp to landing in the project "
            "database (delivery_to_landed), from landing to its day's files (landed_to_materialized).",
            labels=["stage"])
        bounds = [*(f"{b:g}" for b in dnb_reads.LANDING_BUCKETS), "+Inf"]
        for stage, (buckets, _count, total) in past_histograms.items():
            today_buckets, _today_count, today_total = today_histograms[stage]
            duration.add_metric([stage],
                                [(bound, a + b) for bound, a, b in zip(bounds, buckets, today_buckets, strict=True)],
                                total + today_total)
        yield duration
        registrations = dnb_reads.registration_landings(self.engine)
        active = GaugeMetricFamily("active_registrations", "D&B registrations the landing sensor pulled in the last "
                                   "day.")
        active.add_metric([], sum(1 for r in registrations
                                  if r.last_attempt_at and now - r.last_attempt_at < timedelta(days=1)))
        yield active
        lag = GaugeMetricFamily("dnb_landing_lag_seconds", "Seconds since the registration's last successful pull.",
                                labels=["registration"])
        failing = GaugeMetricFamily("dnb_registration_failing", "1 when the registration's last pull failed.",
                                    labels=["registration"])
        for registration in registrations:
            if registration.last_success_at is not None:
                lag.add_metric([registration.reference], (now - registration.last_success_at).total_seconds())
            failing.add_metric([registration.reference], 1.0 if registration.last_error else 0.0)
        yield lag
        yield failing
        quarantine = GaugeMetricFamily("dnb_quarantine_size", "Notifications held in quarantine (malformed).")
        quarantine.add_metric([], dnb_reads.quarantine_counts(self.engine))
        yield quarantine

    def _integrations(self, now: datetime, monotonic: float) -> Iterator[Metric]:
        configs, _problem = self.reader.integrations()
        states = integration_reads.state_and_latency(self.engine)
        recent = self.reader.recent(now, monotonic)
        up = GaugeMetricFamily("integration_up", "1 when the integration is available (UP, DEGRADED or PENDING).",
                               labels=["category", "integration"])
        state_set = GaugeMetricFamily("integration_state", "The integration's current health state (one series per "
                                      "integration, value 1; the state is the label).", labels=["integration", "state"])
        response = GaugeMetricFamily("integration_response_time_seconds", "The integration's last probe latency.",
                                     labels=["integration"])
        error_rate = GaugeMetricFamily("integration_error_rate", "Share of the last hour's probes that failed.",
                                       labels=["integration"])
        score = GaugeMetricFamily("integration_health_score", "0..100 over the last hour's probes (fast 100, slow 50, "
                                  "failed 0).", labels=["integration"])
        # 5,000 integrations are 25,000 samples: built directly, one labels dict shared by an integration's series.
        for config in sorted(configs, key=lambda c: c.name):
            name = config.name
            labels = {"integration": name}
            state, latency_ms = states.get(name, ("UNKNOWN", None))
            up.samples.append(Sample("integration_up", {"category": config.category, "integration": name},
                                     1.0 if state in _AVAILABLE else 0.0))
            state_set.samples.append(Sample("integration_state", {"integration": name, "state": state}, 1.0))
            if latency_ms is not None:
                response.samples.append(Sample("integration_response_time_seconds", labels, latency_ms / 1000.0))
            figures = recent.get(name)
            if figures is not None:
                if figures.error_rate is not None:
                    error_rate.samples.append(Sample("integration_error_rate", labels, figures.error_rate))
                score.samples.append(Sample("integration_health_score", labels, figures.health_score))
        yield from (up, state_set, response, error_rate, score)

    def _failovers(self) -> Iterator[Metric]:
        failovers = CounterMetricFamily("failover_events", "Switches of a failover group's active provider.",
                                        labels=["failover_group"])
        for group, count in sorted(integration_reads.failover_total(self.engine).items()):
            failovers.add_metric([group], count)
        yield failovers

    def _alerts(self, now: datetime) -> Iterator[Metric]:
        total = CounterMetricFamily("alerts", "Alerts fired, by severity.", labels=["severity"])
        for severity, count in alert_reads.alerts_total(self.engine).items():
            total.add_metric([severity], count)
        yield total
        firing = GaugeMetricFamily("alerts_firing", "Alerts firing now (not acknowledged), by severity.",
                                   labels=["severity"])
        for severity, count in alert_reads.firing_by_severity(self.engine).items():
            firing.add_metric([severity], count)
        yield firing
        deliveries = CounterMetricFamily("alert_notification_deliveries", "Notification delivery attempts, by "
                                         "channel type and outcome.", labels=["channel_type", "outcome"])
        for (channel, outcome), count in sorted(delivery_reads.deliveries_by_channel_and_outcome(self.engine).items()):
            deliveries.add_metric([channel, outcome], count)
        yield deliveries
        backlog = delivery_reads.outbox_backlog(self.engine, now)
        pending = GaugeMetricFamily("alert_outbox_backlog", "Notifications waiting in the outbox, by status.",
                                    labels=["status"])
        pending.add_metric(["pending"], backlog.pending)
        pending.add_metric(["held"], backlog.held)
        yield pending
        oldest = GaugeMetricFamily("alert_outbox_oldest_due_seconds", "Age of the oldest notification due and not "
                                   "delivered (0 when none).")
        oldest.add_metric([], backlog.oldest_age_seconds(now))
        yield oldest


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def gauge_text(families: Iterator[Metric]) -> bytes:
    """Gauge families in the Prometheus text format, exactly as ``generate_latest`` writes them."""
    out: list[str] = []
    for family in families:
        assert family.type == "gauge", family.type
        help_text = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {family.name} {help_text}\n# TYPE {family.name} gauge\n")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(sample.labels.items()))
            out.append(f"{sample.name}{{{labels}}} {floatToGoString(sample.value)}\n" if labels
                       else f"{sample.name} {floatToGoString(sample.value)}\n")
    return "".join(out).encode()


def metrics_registry(reader: StatusReader) -> CollectorRegistry:
    """A registry holding only the database collector (no process metrics of this one server)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(reader))
    return registry


def metrics_collector(reader: StatusReader) -> DatabaseCollector:
    """The collector whose ``exposition`` is the service's /metrics."""
    return DatabaseCollector(reader)
