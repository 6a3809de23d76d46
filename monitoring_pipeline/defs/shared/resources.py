"""The project database as a Dagster resource, shared by every domain."""

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from monitoring_pipeline.settings import ENV_DATABASE_URL, ProjectSettings
from monitoring_pipeline.storage.database import shared_engine


class ProjectDatabaseResource(dg.ConfigurableResource):
    """The project database (SQLite file by default, PostgreSQL in production), migrated on first use."""

    url: str = Field(description="SQLAlchemy URL; pass DATABASE_URL as dg.EnvVar in production.")

    def get_engine(self) -> Engine:
        """The process's engine for this URL, migrated to the latest revision on first use."""
        return shared_engine(self.url)


def database_url(settings: ProjectSettings) -> str:
    """DATABASE_URL as an EnvVar (the UI shows its name, never the URL and its password) when set, else the
    local SQLite file."""
    if settings.database_url_from_env:
        return dg.EnvVar(ENV_DATABASE_URL)  # type: ignore[return-value]
    return settings.database_url


def project_database(settings: ProjectSettings) -> ProjectDatabaseResource:
    return ProjectDatabaseResource(url=database_url(settings))
