"""alert delivery: in-order leasing per receiver and group, alerts pushed to Alertmanager channels

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alert_outbox_group", "alert_outbox", ["receiver", "group_key", "id"], unique=False)
    op.create_table(
        "alert_pushed_alerts",
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("refresh_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("receiver", "channel", "fingerprint", name=op.f("pk_alert_pushed_alerts")),
    )
    op.create_index("ix_alert_pushed_alerts_refresh", "alert_pushed_alerts", ["refresh_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_pushed_alerts_refresh", table_name="alert_pushed_alerts")
    op.drop_table("alert_pushed_alerts")
    op.drop_index("ix_alert_outbox_group", table_name="alert_outbox")
