"""Fixtures for the Dagster wiring tests."""

from monitoring_pipeline_tests.sandbox_fixtures import sandbox, sandbox_admin  # noqa: F401 - fixtures
