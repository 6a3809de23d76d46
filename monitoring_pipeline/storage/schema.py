"""The project database schema. Every change here comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
    table,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime for a UTC column: {value!r}")
        value = value.astimezone(UTC)
        # SQLite compares text: store every value in one (naive UTC) form so ordering holds.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Next free call slot per D&B consumer key: the shared rate limit across processes and machines.
dnb_rate_limit = Table(
    "dnb_rate_limit",
    metadata,
    Column("limiter_key", String(64), primary_key=True),
    Column("next_slot", UtcDateTime(), nullable=False),
)

# The D&B access token, shared by every process of this deployment for its lifetime.
dnb_token_cache = Table(
    "dnb_token_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("access_token", Text, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

_BIGINT_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

# Every notification ever pulled or replayed, landed before the next Pull: the durable store.
dnb_landed_notifications = Table(
    "dnb_landed_notifications",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("notification_key", String(64), nullable=False, unique=True),
    Column("reference", String(64), nullable=False),
    Column("duns", String(9), nullable=False),
    Column("notification_type", String(32), nullable=False),
    Column("delivery_ts", UtcDateTime(), nullable=False),
    Column("delivery_day", Date, nullable=False),
    Column("page_position", Integer, nullable=False),
    Column("payload", Text, nullable=False),  # the notification's JSON as received
    Column("source", String(8), nullable=False),  # pull | replay
    Column("landed_at", UtcDateTime(), nullable=False),
    Index("ix_dnb_landed_day_reference", "delivery_day", "reference", "delivery_ts"),
    Index("ix_dnb_landed_company", "reference", "duns", "id"),
)

# Notifications that failed validation: kept with the reason, never dropped, never blocking the rest.
dnb_quarantine = Table(
    "dnb_quarantine",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("notification_key", String(64), nullable=False, unique=True),
    Column("reference", String(64), nullable=False),
    Column("delivery_day", Date, nullable=False),  # the delivery day when parseable, else the landing day
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("source", String(8), nullable=False),
    Column("landed_at", UtcDateTime(), nullable=False),
    Index("ix_dnb_quarantine_day", "delivery_day"),
)

# Per registration: the landing cursor and the health of its last pulls.
dnb_registration_status = Table(
    "dnb_registration_status",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("resume_from", UtcDateTime()),  # replay from here to miss nothing
    Column("last_attempt_at", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
    Column("last_error", Text),
    Column("landed_total", BigInteger, nullable=False, default=0),
    Column("quarantined_total", BigInteger, nullable=False, default=0),
)

# notifications_table: one row per valid notification of a day...
dnb_notifications = Table(
    "dnb_notifications",
    metadata,
    Column("notification_key", String(64), primary_key=True),
    Column("reference", String(64), nullable=False),
    Column("duns", String(9), nullable=False),
    Column("notification_type", String(32), nullable=False),
    Column("delivery_ts", UtcDateTime(), nullable=False),
    Column("delivery_day", Date, nullable=False),
    Column("element_count", Integer, nullable=False),
    Column("landed_id", BigInteger, nullable=False),  # dnb_landed_notifications.id: "new since" in one index probe
    Index("ix_dnb_notifications_day", "delivery_day", "landed_id"),
    Index("ix_dnb_notifications_duns", "duns"),
)

# ...and one row per element change in it.
dnb_notification_elements = Table(
    "dnb_notification_elements",
    metadata,
    Column("notification_key", String(64), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("delivery_day", Date, nullable=False),
    Column("duns", String(9), nullable=False),
    Column("element", String(512), nullable=False),
    Column("previous", Text),  # JSON
    Column("current", Text),  # JSON
    Column("changed_at", UtcDateTime()),
    Index("ix_dnb_notification_elements_day", "delivery_day"),
)

# monitored_companies: each company's current state per registration.
dnb_companies = Table(
    "dnb_companies",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("duns", String(9), primary_key=True),
    Column("status", String(32), nullable=False),  # active | deleted | under_review | transferred | exited | removed
    Column("transferred_to", String(9)),
    Column("state", Text),  # JSON: last SEED with every later UPDATE applied
    Column("last_notification_type", String(32), nullable=False),
    Column("last_delivery_ts", UtcDateTime(), nullable=False),
    Column("last_landed_id", BigInteger, nullable=False),
    Column("updates_applied", Integer, nullable=False, default=0),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_dnb_companies_last_landed_id", "last_landed_id"),
)

# Every file written to a destination, with its checksum: drives incremental writes and verification.
dnb_file_manifest = Table(
    "dnb_file_manifest",
    metadata,
    Column("destination", String(32), primary_key=True),  # local | sftp | s3
    Column("path", String(1024), primary_key=True),  # relative to the destination's base
    Column("delivery_day", Date, nullable=False),
    Column("reference", String(64), nullable=False),
    Column("notification_count", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
    # Remote copies: the sha256 of the local file this copy was made from (differs when gzip is converted).
    Column("source_sha256", String(64)),
    Index("ix_dnb_file_manifest_day", "destination", "delivery_day"),
)

# Per remote destination (SFTP, S3...): the outcome of its last runs, for `monitoring-pipeline status`.
destination_status = Table(
    "destination_status",
    metadata,
    Column("destination", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # sftp | s3
    Column("target", String(512), nullable=False),  # sftp://user@host:port/base or s3://bucket/prefix: no secrets
    Column("last_attempt_at", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
    Column("last_error", Text),  # None after a success
    Column("last_error_at", UtcDateTime()),
    Column("last_partition", String(32)),
    Column("files_stored", BigInteger, nullable=False, default=0),
    Column("bytes_stored", BigInteger, nullable=False, default=0),
)

# What registration sync applied to D&B, and when (migration 0011 renamed it from dnb_subject_sync_log).
dnb_registration_sync_log = Table(
    "dnb_registration_sync_log",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("reference", String(64), nullable=False),
    Column("duns", String(9), nullable=False),
    Column("action", String(16), nullable=False),  # add | remove | unsuppress
    Column("method", String(16), nullable=False),  # single | batch
    Column("result_code", String(16)),
    Column("applied_at", UtcDateTime(), nullable=False),
    Column("run_id", String(64)),
    Index("ix_dnb_registration_sync_log_reference", "reference", "applied_at"),
)

# Portfolio changes D&B asks for through TRANSFER notifications (remove the old DUNS, add the retained one).
dnb_portfolio_actions = Table(
    "dnb_portfolio_actions",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("notification_key", String(64), nullable=False, unique=True),
    Column("reference", String(64), nullable=False),
    Column("old_duns", String(9), nullable=False),
    Column("retained_duns", String(9), nullable=False),
    Column("status", String(16), nullable=False),  # pending | applied | ignored
    Column("created_at", UtcDateTime(), nullable=False),
    Column("applied_at", UtcDateTime()),
)

# A view (migration 0003), declared outside ``metadata`` so schema comparison leaves it alone.
dnb_company_changes = table(
    "dnb_company_changes",
    column("delivery_day", Date),
    column("reference", String),
    column("duns", String),
    column("notification_type", String),
    column("element", String),
    column("previous", Text),
    column("current", Text),
    column("changed_at", UtcDateTime()),
    column("delivery_ts", UtcDateTime()),
    column("notification_key", String),
    column("position", Integer),
)

# -- integration health (migration 0005) --------------------------------------------------------------------

# Every probe of every integration: raw results, kept for PROBING raw_retention, then only as hourly rollups.
integration_probe_results = Table(
    "integration_probe_results",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("integration", String(64), nullable=False),
    Column("probed_at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # up | degraded | failed | skipped
    Column("state", String(16), nullable=False),  # the integration's state after this probe
    Column("status_code", Integer),
    Column("latency_ms", Float),
    Column("error_class", String(32)),
    Column("error", Text),
    Column("conditions", Text),  # JSON: [{"name", "passed", "actual"}]
    Column("attempts", Integer, nullable=False),  # calls made (retries included; 0 when skipped)
    Column("tls_days_left", Float),
    Index("ix_integration_probe_results_integration", "integration", "probed_at"),
    Index("ix_integration_probe_results_probed_at", "probed_at"),
)

# Current state per integration: health state machine, circuit breaker, scheduling and reporting marks.
integration_states = Table(
    "integration_states",
    metadata,
    Column("integration", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", UtcDateTime()),
    Column("cause", Text, nullable=False, default=""),
    Column("explained_by", String(64)),
    Column("failures", Integer, nullable=False, default=0),
    Column("successes", Integer, nullable=False, default=0),
    Column("slow", Integer, nullable=False, default=0),
    Column("fast", Integer, nullable=False, default=0),
    Column("baseline", String(16), nullable=False, default="UP"),
    Column("breaker_state", String(16), nullable=False, default="closed"),
    Column("breaker_failures", Integer, nullable=False, default=0),
    Column("breaker_opened_at", UtcDateTime()),
    Column("breaker_trial_successes", Integer, nullable=False, default=0),
    Column("breaker_times_opened", Integer, nullable=False, default=0),
    Column("last_probe_at", UtcDateTime()),
    Column("last_outcome", String(16)),
    Column("last_latency_ms", Float),
    Column("last_reported_at", UtcDateTime()),  # last observation sent to Dagster
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Every state change with its cause.
integration_state_changes = Table(
    "integration_state_changes",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("integration", String(64), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("cause", Text, nullable=False),
    Column("explained_by", String(64)),
    Index("ix_integration_state_changes_integration", "integration", "changed_at"),
    Index("ix_integration_state_changes_changed_at", "changed_at"),
)

# Every switch of a failover group's active provider.
integration_failover_events = Table(
    "integration_failover_events",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("failover_group", String(64), nullable=False),
    Column("switched_at", UtcDateTime(), nullable=False),
    Column("from_integration", String(64)),
    Column("to_integration", String(64)),
    Column("reason", Text, nullable=False),
    Index("ix_integration_failover_events_switched_at", "switched_at"),
)

# The current routing decision per failover group: what applications read (also published as JSON).
integration_routing = Table(
    "integration_routing",
    metadata,
    Column("failover_group", String(64), primary_key=True),
    Column("active_integration", String(64)),
    Column("weights", Text, nullable=False),  # JSON {integration: share}
    Column("members", Text, nullable=False),  # JSON [{name, role, weight, state, breaker, routable}]
    Column("reason", Text, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
)

def _seconds_in_state() -> list[Column[float]]:
    """Seconds spent in each health state (UNKNOWN: before the first probe, or no probe for too long)."""
    states = ("up", "degraded", "pending", "down", "maintenance", "unknown")
    return [Column(f"seconds_{state}", Float, nullable=False) for state in states]


# Probe results downsampled per integration and hour: long history stays queryable after raw rows are pruned.
integration_probe_hourly = Table(
    "integration_probe_hourly",
    metadata,
    Column("integration", String(64), primary_key=True),
    Column("hour", UtcDateTime(), primary_key=True),
    Column("probes", Integer, nullable=False),  # probes that made a call, outside maintenance windows
    Column("calls", Integer, nullable=False),  # attempts, retries included
    Column("failed", Integer, nullable=False),
    Column("degraded", Integer, nullable=False),
    Column("errors_by_class", Text, nullable=False),  # JSON {class: count}
    Column("latency_histogram", Text, nullable=False),  # JSON {bucket upper bound ms: count}
    Column("latency_p50_ms", Float),
    Column("latency_p95_ms", Float),
    Column("latency_p99_ms", Float),
    *_seconds_in_state(),
    Index("ix_integration_probe_hourly_hour", "hour"),
)

# integration_health_daily: one row per integration and day.
integration_health_days = Table(
    "integration_health_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("integration", String(64), primary_key=True),
    Column("probes", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("availability", Float),  # None when nothing was observed outside maintenance
    Column("latency_p50_ms", Float),
    Column("latency_p95_ms", Float),
    Column("latency_p99_ms", Float),
    Column("error_rate", Float, nullable=False),
    Column("errors_by_class", Text, nullable=False),
    *_seconds_in_state(),
    Column("failover_events", Integer, nullable=False),
    Column("sla_target", Float, nullable=False),
    Column("sla_met", Boolean),
    Column("availability_30d", Float),
    Column("budget_remaining", Float),  # share of the 30-day error budget left (negative: breached)
    Column("burn_rate", Float),  # the day's downtime over what the budget allows per day
    Column("source", String(8), nullable=False),  # raw | hourly (raw rows already pruned)
    Column("computed_at", UtcDateTime(), nullable=False),
)

# integration_usage_daily: calls and estimated cost per integration and day (D&B included).
integration_usage_days = Table(
    "integration_usage_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("integration", String(64), primary_key=True),
    Column("calls", BigInteger, nullable=False),
    Column("cost_per_call", Float, nullable=False),
    Column("cost", Float, nullable=False),
    Column("computed_at", UtcDateTime(), nullable=False),
)

# Calls made outside probing (our own D&B client), counted per day by the process that made them.
integration_call_counts = Table(
    "integration_call_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("integration", String(64), primary_key=True),
    Column("calls", BigInteger, nullable=False),
)

# -- alerting (migration 0006 onwards) ---------------------------------------------------------------------

# The transactional outbox: each notification the engine decides, written in the same transaction as the alert
# transition that caused it, then delivered at least once (the delivery step leases rows, sends, records).
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("receiver", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # trigger | reminder | escalation | acknowledgement | ...
    Column("group_key", String(255), nullable=False),
    Column("payload", Text, nullable=False),  # Notification.to_json()
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | held
    Column("attempts", Integer, nullable=False, default=0),
    Column("leased_until", UtcDateTime()),  # a delivering process owns the row until then
    Column("last_error", Text),  # never a secret: channels redact URLs and tokens
    Column("delivered_at", UtcDateTime()),
    Index("ix_alert_outbox_due", "status", "due_at"),
)

# Every delivery attempt of an outbox row: the delivery log users read (`alerts deliveries`, alert_history_daily).
alert_delivery_log = Table(
    "alert_delivery_log",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("outbox_id", _BIGINT_ID, nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("receiver", String(64), nullable=False),
    Column("channel", String(64), nullable=False),  # the channel instance's name within the receiver
    Column("channel_type", String(32), nullable=False),  # email | slack | discord | teams | pagerduty | ...
    Column("kind", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | retry | failed | held
    Column("status_code", Integer),  # HTTP status or SMTP reply code
    Column("detail", Text),  # the remote's answer or the error, redacted (no URL, token or address secrets)
    Column("latency_ms", Float),
    Index("ix_alert_delivery_log_time", "attempted_at"),
    Index("ix_alert_delivery_log_outbox", "outbox_id"),
)

# Each receiver's delivery health: a permanent failure marks it broken (its notifications are held) until a
# delivery succeeds again or its configuration changes; the engine alerts the other receivers about it.
alert_receiver_status = Table(
    "alert_receiver_status",
    metadata,
    Column("receiver", String(64), primary_key=True),
    Column("state", String(16), nullable=False),  # ok | broken
    Column("reason", Text),  # e.g. "slack: 404 channel_not_found" (redacted)
    Column("config_hash", String(64)),  # the receiver's configuration when it broke: a change re-arms it
    Column("since", UtcDateTime(), nullable=False),
    Column("last_success_at", UtcDateTime()),
    Column("last_failure_at", UtcDateTime()),
    Column("consecutive_failures", Integer, nullable=False, default=0),
)

# -- D&B run snapshots (migration 0011) ---------------------------------------------------------------------

# The landed and quarantine high-water marks a backfill or manual run of the day assets started from: every
# check of the run judges that snapshot (landing-triggered runs carry theirs as run tags instead).
dnb_run_snapshots = Table(
    "dnb_run_snapshots",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("landed_up_to", BigInteger, nullable=False),
    Column("quarantined_up_to", BigInteger, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index("ix_dnb_run_snapshots_recorded_at", "recorded_at"),
)
