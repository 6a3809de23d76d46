"""integration health: probe results, states, state changes, failover, routing, hourly rollups, daily summaries

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_call_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "integration", name=op.f("pk_integration_call_counts")),
    )
    op.create_table(
        "integration_failover_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("failover_group", sa.String(length=64), nullable=False),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_integration", sa.String(length=64), nullable=True),
        sa.Column("to_integration", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_failover_events")),
    )
    with op.batch_alter_table("integration_failover_events", schema=None) as batch_op:
        batch_op.create_index("ix_integration_failover_events_switched_at", ["switched_at"], unique=False)

    op.create_table(
        "integration_health_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("availability", sa.Float(), nullable=True),
        sa.Column("latency_p50_ms", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("latency_p99_ms", sa.Float(), nullable=True),
        sa.Column("error_rate", sa.Float(), nullable=False),
        sa.Column("errors_by_class", sa.Text(), nullable=False),
        sa.Column("seconds_up", sa.Float(), nullable=False),
        sa.Column("seconds_degraded", sa.Float(), nullable=False),
        sa.Column("seconds_pending", sa.Float(), nullable=False),
        sa.Column("seconds_down", sa.Float(), nullable=False),
        sa.Column("seconds_maintenance", sa.Float(), nullable=False),
        sa.Column("seconds_unknown", sa.Float(), nullable=False),
        sa.Column("failover_events", sa.Integer(), nullable=False),
        sa.Column("sla_target", sa.Float(), nullable=False),
        sa.Column("sla_met", sa.Boolean(), nullable=True),
        sa.Column("availability_30d", sa.Float(), nullable=True),
        sa.Column("budget_remaining", sa.Float(), nullable=True),
        sa.Column("burn_rate", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "integration", name=op.f("pk_integration_health_days")),
    )
    op.create_table(
        "integration_probe_hourly",
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("probes", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("errors_by_class", sa.Text(), nullable=False),
        sa.Column("latency_histogram", sa.Text(), nullable=False),
        sa.Column("latency_p50_ms", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("latency_p99_ms", sa.Float(), nullable=True),
        sa.Column("seconds_up", sa.Float(), nullable=False),
        sa.Column("seconds_degraded", sa.Float(), nullable=False),
        sa.Column("seconds_pending", sa.Float(), nullable=False),
        sa.Column("seconds_down", sa.Float(), nullable=False),
        sa.Column("seconds_maintenance", sa.Float(), nullable=False),
        sa.Column("seconds_unknown", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("integration", "hour", name=op.f("pk_integration_probe_hourly")),
    )
    with op.batch_alter_table("integration_probe_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_integration_probe_hourly_hour", ["hour"], unique=False)

    op.create_table(
        "integration_probe_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("tls_days_left", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_probe_results")),
    )
    with op.batch_alter_table("integration_probe_results", schema=None) as batch_op:
        batch_op.create_index("ix_integration_probe_results_integration", ["integration", "probed_at"], unique=False)
        batch_op.create_index("ix_integration_probe_results_probed_at", ["probed_at"], unique=False)

    op.create_table(
        "integration_routing",
        sa.Column("failover_group", sa.String(length=64), nullable=False),
        sa.Column("active_integration", sa.String(length=64), nullable=True),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("failover_group", name=op.f("pk_integration_routing")),
    )
    op.create_table(
        "integration_state_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("explained_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_state_changes")),
    )
    with op.batch_alter_table("integration_state_changes", schema=None) as batch_op:
        batch_op.create_index("ix_integration_state_changes_changed_at", ["changed_at"], unique=False)
        batch_op.create_index("ix_integration_state_changes_integration", ["integration", "changed_at"], unique=False)

    op.create_table(
        "integration_states",
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("explained_by", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("slow", sa.Integer(), nullable=False),
        sa.Column("fast", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.String(length=16), nullable=False),
        sa.Column("breaker_state", sa.String(length=16), nullable=False),
        sa.Column("breaker_failures", sa.Integer(), nullable=False),
        sa.Column("breaker_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breaker_trial_successes", sa.Integer(), nullable=False),
        sa.Column("breaker_times_opened", sa.Integer(), nullable=False),
        sa.Column("last_probe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration", name=op.f("pk_integration_states")),
    )
    op.create_table(
        "integration_usage_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("cost_per_call", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "integration", name=op.f("pk_integration_usage_days")),
    )


def downgrade() -> None:
    op.drop_table("integration_usage_days")
    op.drop_table("integration_states")
    with op.batch_alter_table("integration_state_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_state_changes_integration")
        batch_op.drop_index("ix_integration_state_changes_changed_at")

    op.drop_table("integration_state_changes")
    op.drop_table("integration_routing")
    with op.batch_alter_table("integration_probe_results", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_probe_results_probed_at")
        batch_op.drop_index("ix_integration_probe_results_integration")

    op.drop_table("integration_probe_results")
    with op.batch_alter_table("integration_probe_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_probe_hourly_hour")

    op.drop_table("integration_probe_hourly")
    op.drop_table("integration_health_days")
    with op.batch_alter_table("integration_failover_events", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_failover_events_switched_at")

    op.drop_table("integration_failover_events")
    op.drop_table("integration_call_counts")
