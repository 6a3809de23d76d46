"""Fixtures for the Dagster wiring tests: the real servers of the destination and sandbox tests."""

from monitoring_pipeline_tests.destinations.conftest import (  # noqa: F401 - fixtures, registered by import
    moto_endpoint,
    running_sshd,
    s3_settings,
    sshd,
)
from monitoring_pipeline_tests.sandbox_fixtures import sandbox, sandbox_admin  # noqa: F401 - fixtures
