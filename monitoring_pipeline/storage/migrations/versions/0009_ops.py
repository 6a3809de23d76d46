"""ops service: inbound webhook requests and applied updates, provider-declared incidents, used acknowledgement links

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ops_webhook_requests",
        sa.Column("id", _BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=True),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_webhook_requests")),
    )
    op.create_index("ix_ops_webhook_requests_received_at", "ops_webhook_requests", ["received_at"], unique=False)
    op.create_table(
        "ops_webhook_applied",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_key", name=op.f("pk_ops_webhook_applied")),
    )
    op.create_table(
        "provider_incidents",
        sa.Column("id", _BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("impact", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_incidents")),
    )
    op.create_index("ix_provider_incidents_identity", "provider_incidents",
                    ["source", "kind", "external_id", "integration"], unique=True)
    op.create_index("ix_provider_incidents_active", "provider_incidents", ["active", "integration"], unique=False)
    op.create_table(
        "ops_ack_tokens",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_ops_ack_tokens")),
    )


def downgrade() -> None:
    op.drop_table("ops_ack_tokens")
    op.drop_index("ix_provider_incidents_active", table_name="provider_incidents")
    op.drop_index("ix_provider_incidents_identity", table_name="provider_incidents")
    op.drop_table("provider_incidents")
    op.drop_table("ops_webhook_applied")
    op.drop_index("ix_ops_webhook_requests_received_at", table_name="ops_webhook_requests")
    op.drop_table("ops_webhook_requests")
