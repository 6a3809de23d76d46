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
    text,
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
    # When the notification first reached its day's files (notification_files); a rebuild leaves it. Migration 0013.
    Column("materialized_at", UtcDateTime()),
    Index("ix_dnb_landed_day_reference", "delivery_day", "reference", "delivery_ts"),
    Index("ix_dnb_landed_company", "reference", "duns", "id"),
    # Only the rows not yet in files: a sensor run finds its new notifications without reading the day.
    Index("ix_dnb_landed_unmaterialized", "delivery_day", "id",
          postgresql_where=text("materialized_at IS NULL"), sqlite_where=text("materialized_at IS NULL")),
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

# D&B calls that failed, per day and reason (rate_limited, server_error, ...; dnb.errors.error_reason), added up by
# every process (migration 0013): the ops service's dnb_api_errors_total.
dnb_api_errors = Table(
    "dnb_api_errors",
    metadata,
    Column("day", Date, primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("errors", BigInteger, nullable=False),
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

# -- ops service (migration 0009) --------------------------------------------------------------------------

# Every request to POST /webhooks/{source}, accepted or not: what came (size and hash, never the body of an
# unauthenticated request), when, and what was done with it.
ops_webhook_requests = Table(
    "ops_webhook_requests",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | duplicate | ignored | rejected
    Column("http_status", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("event_key", String(255)),  # the update's identity, once authenticated and parsed
    Column("body_bytes", Integer, nullable=False),
    Column("body_sha256", String(64)),
    Index("ix_ops_webhook_requests_received_at", "received_at"),
)

# Updates applied, by identity: a replayed delivery of the same update is answered and recorded, not applied twice.
ops_webhook_applied = Table(
    "ops_webhook_applied",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("event_key", String(255), primary_key=True),
    Column("applied_at", UtcDateTime(), nullable=False),
)

# Incidents providers declare on their status pages (inbound webhooks), one row per incident (or component) and
# integration it is mapped to. The status page shows the active ones; the alert engine raises alerts from them.
provider_incidents = Table(
    "provider_incidents",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # the webhook source (ops file)
    Column("kind", String(16), nullable=False),  # incident | component
    Column("external_id", String(128), nullable=False),  # the provider's incident or component id
    Column("integration", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(32), nullable=False),  # investigating ... resolved | major_outage ... operational
    Column("impact", String(16), nullable=False),  # none | minor | major | critical | maintenance
    Column("active", Boolean, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),  # the provider's time of the update applied last
    Column("resolved_at", UtcDateTime()),
    Column("url", Text),
    Column("detail", Text),  # the latest update's text
    Column("received_at", UtcDateTime(), nullable=False),
    Index("ix_provider_incidents_identity", "source", "kind", "external_id", "integration", unique=True),
    Index("ix_provider_incidents_active", "active", "integration"),
)

# Acknowledgement links already used (single use): the token's id, never the token.
ops_ack_tokens = Table(
    "ops_ack_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("used_at", UtcDateTime(), nullable=False),
    Column("outcome", String(32), nullable=False),
)

# -- alert delivery (migration 0008) ----------------------------------------------------------------------------

# Delivery sends a group's notifications in the order they were decided: it looks for an earlier unfinished row of
# the same receiver and group before leasing a later one.
Index("ix_alert_outbox_group", alert_outbox.c.receiver, alert_outbox.c.group_key, alert_outbox.c.id)

# Alerts pushed to an Alertmanager channel that still fire: re-sent before their endsAt passes (Alertmanager
# resolves an alert nobody re-sends), deleted once their resolution is delivered.
alert_pushed_alerts = Table(
    "alert_pushed_alerts",
    metadata,
    Column("receiver", String(64), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("fingerprint", String(255), primary_key=True),
    Column("body", Text, nullable=False),  # the alert as Alertmanager's API takes it, without endsAt
    Column("refresh_at", UtcDateTime(), nullable=False),
    Column("pushed_at", UtcDateTime(), nullable=False),
    # The notification that last pushed it: its periodic re-sends are logged against it (migration 0012; null for
    # alerts pushed before).
    Column("outbox_id", _BIGINT_ID),
    Index("ix_alert_pushed_alerts_refresh", "refresh_at"),
)

# -- push heartbeats (migration 0010) -----------------------------------------------------------------------

# Every ping a push integration sent to the ops service (/ping/<token>[/start|/fail|/<exit status>]); the probe
# pass judges them, and they are pruned with raw probe results (probing.raw_retention).
integration_pings = Table(
    "integration_pings",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("integration", String(64), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("kind", String(8), nullable=False),  # start | success | fail
    Column("exit_status", Integer),  # from /ping/<token>/<exit status>
    Column("duration_ms", Float),  # since the run's start ping, when one came within the grace
    Column("message", Text),  # what the job sent in the body (first 1,000 characters)
    Column("remote_address", String(64)),
    Column("user_agent", String(200)),
    Index("ix_integration_pings_integration", "integration", "received_at"),
    Index("ix_integration_pings_received_at", "received_at"),
)

# -- alert engine (migration 0007) ------------------------------------------------------------------------------

# Every alert, open or resolved: pending -> firing -> acknowledged -> resolved; silenced and inhibited are flags.
alerts = Table(
    "alerts",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),  # stable: rule + identity labels
    Column("open_fingerprint", String(64), unique=True),  # the fingerprint while not resolved: one open alert each
    Column("rule", String(64), nullable=False),
    Column("source", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # pending | firing | acknowledged | resolved
    Column("is_event", Boolean, nullable=False),  # resolved by acknowledgement or after resolve_after
    Column("labels", Text, nullable=False),  # JSON {name: value}
    Column("annotations", Text, nullable=False),  # JSON, rendered
    Column("details", Text, nullable=False),  # JSON: what the source found
    Column("value", Float),
    Column("silenced", Boolean, nullable=False),
    Column("inhibited", Boolean, nullable=False),
    Column("muted_by", Text),  # why silenced/inhibited: "silence 4", "inhibited by alert 17", "maintenance ..."
    Column("condition", Boolean, nullable=False),  # the source's last verdict: does the condition hold?
    Column("active_streak", Integer, nullable=False),  # consecutive observations holding
    Column("inactive_streak", Integer, nullable=False),  # consecutive observations not holding
    Column("event_count", Integer, nullable=False),  # events merged into this alert (event rules)
    Column("active_since", UtcDateTime(), nullable=False),
    Column("last_observed_at", UtcDateTime(), nullable=False),
    Column("fire_at", UtcDateTime()),  # pending: fires then if the condition still holds (`for`)
    Column("clear_at", UtcDateTime()),  # resolves then: keep_firing_for ran out, or an event's resolve_after
    Column("fired_at", UtcDateTime()),
    Column("acknowledged_at", UtcDateTime()),
    Column("acknowledged_by", String(128)),
    Column("acknowledgement_comment", Text),
    Column("resolved_at", UtcDateTime()),
    Column("resolved_by", String(128)),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_rule_state", "rule", "state"),
    Index("ix_alerts_fire_at", "fire_at"),
    Index("ix_alerts_clear_at", "clear_at"),
    Index("ix_alerts_fired_at", "fired_at"),
    Index("ix_alerts_fingerprint", "fingerprint"),
)

# Append-only history of every alert: transitions, flags, notifications decided, who acknowledged and why.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("alert_id", _BIGINT_ID, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("event", String(32), nullable=False),  # pending | firing | acknowledged | resolved | notified | ...
    Column("detail", Text, nullable=False),
    Column("actor", String(128)),  # who: a person for acknowledgements and silences, else the engine
    Index("ix_alert_events_alert", "alert_id", "id"),
    Index("ix_alert_events_at", "at"),
)

# One row per alert group (route + group_by values): its notification log per receiver and its escalation.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("group_key", String(64), primary_key=True),
    Column("route", Text, nullable=False),  # the route's key (its matcher chain), to find it in the config
    Column("receiver", String(64)),  # the route's receiver when the group formed
    Column("group_labels", Text, nullable=False),  # JSON
    Column("state", String(16), nullable=False),  # active | idle (every alert resolved and told)
    Column("sequence", Integer, nullable=False),  # decisions so far: part of each notification's idempotency key
    Column("next_flush_at", UtcDateTime()),  # group_wait, then every group_interval while active
    Column("notified", Text, nullable=False),  # JSON {receiver: {"firing": [ids], "resolved": [ids], "at": iso}}
    Column("told", Text, nullable=False),  # JSON [receivers told since the group became active]
    Column("rearm", Boolean, nullable=False),  # an acknowledgement lapsed: remind at the next flush
    Column("escalation_policy", String(64)),
    Column("escalation_state", String(16), nullable=False),  # none | running | acknowledged | completed
    Column("escalation_level", Integer, nullable=False),  # levels reached in the current cycle
    Column("escalation_cycle", Integer, nullable=False),  # repeats done
    Column("escalation_started_at", UtcDateTime()),
    Column("next_escalation_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_alert_groups_next_flush_at", "next_flush_at"),
    Index("ix_alert_groups_next_escalation_at", "next_escalation_at"),
)

# Which alerts are in which group (an alert reaches several groups through `continue`).
alert_group_members = Table(
    "alert_group_members",
    metadata,
    Column("group_key", String(64), primary_key=True),
    Column("alert_id", _BIGINT_ID, primary_key=True),
    Index("ix_alert_group_members_alert", "alert_id"),
)

# Silences: label matchers muting notifications between two times, with who and why.
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),  # JSON ["name=value", "name=~regex", ...]
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expired_by", String(128)),  # ended early (unsilence)
    Index("ix_alert_silences_ends_at", "ends_at"),
)

# The engine's cursors and bookkeeping (source watermarks, last evaluation), written with the transitions.
alert_engine_state = Table(
    "alert_engine_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Observations handed in from outside the evaluation (the run-failure sensor), read once by the engine.
alert_inbox = Table(
    "alert_inbox",
    metadata,
    Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # run_failure
    Column("received_at", UtcDateTime(), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
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
