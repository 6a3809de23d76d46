"""D&B: run snapshots (the high-water marks a day run's checks judge); the registration sync log gets its name

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dnb_run_snapshots",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("landed_up_to", sa.BigInteger(), nullable=False),
        sa.Column("quarantined_up_to", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_dnb_run_snapshots")),
    )
    op.create_index("ix_dnb_run_snapshots_recorded_at", "dnb_run_snapshots", ["recorded_at"], unique=False)
    # One name for registration sync across module, asset, sensor and table.
    op.drop_index("ix_dnb_subject_sync_log_reference", table_name="dnb_subject_sync_log")
    op.rename_table("dnb_subject_sync_log", "dnb_registration_sync_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE dnb_registration_sync_log RENAME CONSTRAINT pk_dnb_subject_sync_log "
                   "TO pk_dnb_registration_sync_log")
        op.execute("ALTER SEQUENCE dnb_subject_sync_log_id_seq RENAME TO dnb_registration_sync_log_id_seq")
    op.create_index("ix_dnb_registration_sync_log_reference", "dnb_registration_sync_log",
                    ["reference", "applied_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dnb_registration_sync_log_reference", table_name="dnb_registration_sync_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE dnb_registration_sync_log_id_seq RENAME TO dnb_subject_sync_log_id_seq")
        op.execute("ALTER TABLE dnb_registration_sync_log RENAME CONSTRAINT pk_dnb_registration_sync_log "
                   "TO pk_dnb_subject_sync_log")
    op.rename_table("dnb_registration_sync_log", "dnb_subject_sync_log")
    op.create_index("ix_dnb_subject_sync_log_reference", "dnb_subject_sync_log", ["reference", "applied_at"],
                    unique=False)
    op.drop_index("ix_dnb_run_snapshots_recorded_at", table_name="dnb_run_snapshots")
    op.drop_table("dnb_run_snapshots")
