"""notifications landing, processing, files and portfolio

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dnb_companies",
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("duns", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("transferred_to", sa.String(length=9), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("last_notification_type", sa.String(length=32), nullable=False),
        sa.Column("last_delivery_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_landed_id", sa.BigInteger(), nullable=False),
        sa.Column("updates_applied", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reference", "duns", name=op.f("pk_dnb_companies")),
    )
    with op.batch_alter_table("dnb_companies", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_companies_last_landed_id", ["last_landed_id"], unique=False)

    op.create_table(
        "dnb_file_manifest",
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("notification_count", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("destination", "path", name=op.f("pk_dnb_file_manifest")),
    )
    with op.batch_alter_table("dnb_file_manifest", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_file_manifest_day", ["destination", "delivery_day"], unique=False)

    op.create_table(
        "dnb_landed_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("notification_key", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("duns", sa.String(length=9), nullable=False),
        sa.Column("notification_type", sa.String(length=32), nullable=False),
        sa.Column("delivery_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("page_position", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnb_landed_notifications")),
        sa.UniqueConstraint("notification_key", name=op.f("uq_dnb_landed_notifications_notification_key")),
    )
    with op.batch_alter_table("dnb_landed_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_landed_day_reference", ["delivery_day", "reference", "delivery_ts"], unique=False)
        batch_op.create_index("ix_dnb_landed_company", ["reference", "duns", "id"], unique=False)

    op.create_table(
        "dnb_notification_elements",
        sa.Column("notification_key", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("duns", sa.String(length=9), nullable=False),
        sa.Column("element", sa.String(length=512), nullable=False),
        sa.Column("previous", sa.Text(), nullable=True),
        sa.Column("current", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notification_key", "position", name=op.f("pk_dnb_notification_elements")),
    )
    with op.batch_alter_table("dnb_notification_elements", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_notification_elements_day", ["delivery_day"], unique=False)

    op.create_table(
        "dnb_notifications",
        sa.Column("notification_key", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("duns", sa.String(length=9), nullable=False),
        sa.Column("notification_type", sa.String(length=32), nullable=False),
        sa.Column("delivery_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("element_count", sa.Integer(), nullable=False),
        sa.Column("landed_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("notification_key", name=op.f("pk_dnb_notifications")),
    )
    with op.batch_alter_table("dnb_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_notifications_day", ["delivery_day", "landed_id"], unique=False)
        batch_op.create_index("ix_dnb_notifications_duns", ["duns"], unique=False)

    op.create_table(
        "dnb_portfolio_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("notification_key", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("old_duns", sa.String(length=9), nullable=False),
        sa.Column("retained_duns", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnb_portfolio_actions")),
        sa.UniqueConstraint("notification_key", name=op.f("uq_dnb_portfolio_actions_notification_key")),
    )
    op.create_table(
        "dnb_quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("notification_key", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("delivery_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnb_quarantine")),
        sa.UniqueConstraint("notification_key", name=op.f("uq_dnb_quarantine_notification_key")),
    )
    with op.batch_alter_table("dnb_quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_quarantine_day", ["delivery_day"], unique=False)

    op.create_table(
        "dnb_registration_status",
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("resume_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("landed_total", sa.BigInteger(), nullable=False),
        sa.Column("quarantined_total", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_dnb_registration_status")),
    )
    op.create_table(
        "dnb_subject_sync_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("duns", sa.String(length=9), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("result_code", sa.String(length=16), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnb_subject_sync_log")),
    )
    with op.batch_alter_table("dnb_subject_sync_log", schema=None) as batch_op:
        batch_op.create_index("ix_dnb_subject_sync_log_reference", ["reference", "applied_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dnb_subject_sync_log", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_subject_sync_log_reference")

    op.drop_table("dnb_subject_sync_log")
    op.drop_table("dnb_registration_status")
    with op.batch_alter_table("dnb_quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_quarantine_day")

    op.drop_table("dnb_quarantine")
    op.drop_table("dnb_portfolio_actions")
    with op.batch_alter_table("dnb_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_notifications_duns")
        batch_op.drop_index("ix_dnb_notifications_day")

    op.drop_table("dnb_notifications")
    with op.batch_alter_table("dnb_notification_elements", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_notification_elements_day")

    op.drop_table("dnb_notification_elements")
    with op.batch_alter_table("dnb_landed_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_landed_day_reference")

    op.drop_table("dnb_landed_notifications")
    with op.batch_alter_table("dnb_file_manifest", schema=None) as batch_op:
        batch_op.drop_index("ix_dnb_file_manifest_day")

    op.drop_table("dnb_file_manifest")
    op.drop_table("dnb_companies")
