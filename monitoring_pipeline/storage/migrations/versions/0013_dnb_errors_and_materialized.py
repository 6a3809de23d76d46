"""D&B: failed calls per day and reason (dnb_api_errors_total); when each landed notification first reached its
day's files (the landed -> materialized stage of notifications_processing_duration_seconds)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_UNMATERIALIZED = sa.text("materialized_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "dnb_api_errors",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "reason", name=op.f("pk_dnb_api_errors")),
    )
    with op.batch_alter_table("dnb_landed_notifications") as batch:
        batch.add_column(sa.Column("materialized_at", sa.DateTime(timezone=True), nullable=True))
    # Rows landed before this migration are in their files already (or will be rebuilt): they get no duration.
    op.execute("UPDATE dnb_landed_notifications SET materialized_at = landed_at")
    op.create_index("ix_dnb_landed_unmaterialized", "dnb_landed_notifications", ["delivery_day", "id"], unique=False,
                    postgresql_where=_UNMATERIALIZED, sqlite_where=_UNMATERIALIZED)


def downgrade() -> None:
    op.drop_index("ix_dnb_landed_unmaterialized", table_name="dnb_landed_notifications")
    with op.batch_alter_table("dnb_landed_notifications") as batch:
        batch.drop_column("materialized_at")
    op.drop_table("dnb_api_errors")
