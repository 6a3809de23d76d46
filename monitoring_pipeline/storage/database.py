"""Engines for the project database and schema migration to the latest revision."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant: serialises concurrent migrations of one PostgreSQL database.
_MIGRATION_LOCK_ID = 0x4D504442
_SHARED_ENGINES: dict[str, Engine] = {}
_SHARED_ENGINES_LOCK = threading.Lock()


def create_db_engine(url: str) -> Engine:
    """An engine tuned for our use: WAL and a busy timeout on SQLite, pre-ping on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def migrate(engine: Engine) -> None:
    """Upgrade the database to the latest revision; safe to call from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def shared_engine(url: str) -> Engine:
    """One engine per process and URL, migrated the first time: sensor ticks and assets reuse its pool."""
    with _SHARED_ENGINES_LOCK:
        engine = _SHARED_ENGINES.get(url)
        if engine is None:
            engine = create_db_engine(url)
            migrate(engine)
            _SHARED_ENGINES[url] = engine
        return engine
