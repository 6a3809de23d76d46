"""The project database schema. Every change here comes with an Alembic migration."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Next free call slot per D&B consumer key: the shared rate limit across processes and machines.
dnb_rate_limit = Table(
    "dnb_rate_limit",
    metadata,
    Column("limiter_key", String(64), primary_key=True),
    Column("next_slot", DateTime(timezone=True), nullable=False),
)

# The D&B access token, shared by every process of this deployment for its lifetime.
dnb_token_cache = Table(
    "dnb_token_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("access_token", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
