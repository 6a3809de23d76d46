"""D&B shared state: rate-limit slots and the access-token cache.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dnb_rate_limit",
        sa.Column("limiter_key", sa.String(64), nullable=False),
        sa.Column("next_slot", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("limiter_key", name="pk_dnb_rate_limit"),
    )
    op.create_table(
        "dnb_token_cache",
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cache_key", name="pk_dnb_token_cache"),
    )


def downgrade() -> None:
    op.drop_table("dnb_token_cache")
    op.drop_table("dnb_rate_limit")
