"""Fixtures for the Dagster wiring tests: the real servers of the destination tests."""

from monitoring_pipeline_tests.destinations.conftest import (  # noqa: F401 - fixtures, registered by import
    moto_endpoint,
    running_sshd,
    s3_settings,
    sshd,
)
