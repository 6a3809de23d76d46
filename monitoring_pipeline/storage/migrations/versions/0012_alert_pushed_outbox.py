"""alerts pushed to Alertmanager channels remember the notification that pushed them: their periodic re-sends are
logged against it in the delivery log

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_pushed_alerts") as batch:
        batch.add_column(sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_pushed_alerts") as batch:
        batch.drop_column("outbox_id")
