"""Alembic environment: migrations run on the connection handed over by ``storage.database.migrate``."""

from __future__ import annotations

from alembic import context

from monitoring_pipeline.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through monitoring_pipeline.storage.database.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
