"""Project database (SQLAlchemy + Alembic), file writers and SFTP. No Dagster imports."""
