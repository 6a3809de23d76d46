"""company_changes: element-level changes flattened for analysis, as a view over the day tables.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW dnb_company_changes AS
        SELECT e.delivery_day, n.reference, e.duns, n.notification_type, e.element, e.previous, e.current,
               e.changed_at, n.delivery_ts, e.notification_key, e.position
        FROM dnb_notification_elements e
        JOIN dnb_notifications n ON n.notification_key = e.notification_key
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW dnb_company_changes")
