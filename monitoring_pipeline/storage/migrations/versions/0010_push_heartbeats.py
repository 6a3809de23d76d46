"""push heartbeats: the pings push integrations send to the ops service

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integration_pings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("remote_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_pings")),
    )
    with op.batch_alter_table("integration_pings", schema=None) as batch_op:
        batch_op.create_index("ix_integration_pings_integration", ["integration", "received_at"], unique=False)
        batch_op.create_index("ix_integration_pings_received_at", ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("integration_pings", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_pings_received_at")
        batch_op.drop_index("ix_integration_pings_integration")
    op.drop_table("integration_pings")
