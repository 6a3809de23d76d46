"""alert engine: alerts and their history, groups and their members, silences, engine state, inbox

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("open_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("is_event", sa.Boolean(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("inhibited", sa.Boolean(), nullable=False),
        sa.Column("muted_by", sa.Text(), nullable=True),
        sa.Column("condition", sa.Boolean(), nullable=False),
        sa.Column("active_streak", sa.Integer(), nullable=False),
        sa.Column("inactive_streak", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("active_since", _utc(), nullable=False),
        sa.Column("last_observed_at", _utc(), nullable=False),
        sa.Column("fire_at", _utc(), nullable=True),
        sa.Column("clear_at", _utc(), nullable=True),
        sa.Column("fired_at", _utc(), nullable=True),
        sa.Column("acknowledged_at", _utc(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("acknowledgement_comment", sa.Text(), nullable=True),
        sa.Column("resolved_at", _utc(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("open_fingerprint", name=op.f("uq_alerts_open_fingerprint")),
    )
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_rule_state", "alerts", ["rule", "state"])
    op.create_index("ix_alerts_fire_at", "alerts", ["fire_at"])
    op.create_index("ix_alerts_clear_at", "alerts", ["clear_at"])
    op.create_index("ix_alerts_fired_at", "alerts", ["fired_at"])
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_table(
        "alert_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id", "id"])
    op.create_index("ix_alert_events_at", "alert_events", ["at"])
    op.create_table(
        "alert_groups",
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=True),
        sa.Column("group_labels", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("next_flush_at", _utc(), nullable=True),
        sa.Column("notified", sa.Text(), nullable=False),
        sa.Column("told", sa.Text(), nullable=False),
        sa.Column("rearm", sa.Boolean(), nullable=False),
        sa.Column("escalation_policy", sa.String(length=64), nullable=True),
        sa.Column("escalation_state", sa.String(length=16), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalation_cycle", sa.Integer(), nullable=False),
        sa.Column("escalation_started_at", _utc(), nullable=True),
        sa.Column("next_escalation_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("group_key", name=op.f("pk_alert_groups")),
    )
    op.create_index("ix_alert_groups_next_flush_at", "alert_groups", ["next_flush_at"])
    op.create_index("ix_alert_groups_next_escalation_at", "alert_groups", ["next_escalation_at"])
    op.create_table(
        "alert_group_members",
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("group_key", "alert_id", name=op.f("pk_alert_group_members")),
    )
    op.create_index("ix_alert_group_members_alert", "alert_group_members", ["alert_id"])
    op.create_table(
        "alert_silences",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expired_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
    )
    op.create_index("ix_alert_silences_ends_at", "alert_silences", ["ends_at"])
    op.create_table(
        "alert_engine_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_engine_state")),
    )
    op.create_table(
        "alert_inbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_inbox")),
    )


def downgrade() -> None:
    op.drop_table("alert_inbox")
    op.drop_table("alert_engine_state")
    op.drop_index("ix_alert_silences_ends_at", table_name="alert_silences")
    op.drop_table("alert_silences")
    op.drop_index("ix_alert_group_members_alert", table_name="alert_group_members")
    op.drop_table("alert_group_members")
    op.drop_index("ix_alert_groups_next_escalation_at", table_name="alert_groups")
    op.drop_index("ix_alert_groups_next_flush_at", table_name="alert_groups")
    op.drop_table("alert_groups")
    op.drop_index("ix_alert_events_at", table_name="alert_events")
    op.drop_index("ix_alert_events_alert", table_name="alert_events")
    op.drop_table("alert_events")
    for name in ("ix_alerts_fingerprint", "ix_alerts_fired_at", "ix_alerts_clear_at", "ix_alerts_fire_at",
                 "ix_alerts_rule_state", "ix_alerts_state"):
        op.drop_index(name, table_name="alerts")
    op.drop_table("alerts")
