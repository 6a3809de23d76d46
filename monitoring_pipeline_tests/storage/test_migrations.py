"""Migrations: the schema in code and the one Alembic builds never drift apart; upgrading is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from monitoring_pipeline.storage.database import MIGRATIONS_DIR, migrate
from monitoring_pipeline.storage.schema import metadata


def test_migrations_build_exactly_the_declared_schema(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_migrating_again_is_a_no_op(engine):
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert current == ScriptDirectory.from_config(config).get_current_head()  # one head: no branch left unmerged
