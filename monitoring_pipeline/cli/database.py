"""`monitoring-pipeline db ...`: the project database."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """The project database (DATABASE_URL, else the SQLite file under MONITORING_PIPELINE_HOME)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (also done automatically on first use)."""
    from sqlalchemy.engine import make_url

    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import create_db_engine, migrate

    url = ProjectSettings.from_env().database_url
    engine = create_db_engine(url)
    migrate(engine)
    click.echo(f"database at {make_url(url).render_as_string(hide_password=True)} is up to date")


COMMANDS = [db]
