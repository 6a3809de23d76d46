"""Fixtures of the file tests: realistic pages landed in the store, and where the files go."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitoring_pipeline.notifications.files import ExportSettings
from monitoring_pipeline_tests.notifications.files.landed_pages import Pages, land_day


@pytest.fixture
def pages(engine: Engine) -> Pages:
    """Two registrations with three pages each on DAY, and one page on the next day."""
    return land_day(engine)


@pytest.fixture
def settings(tmp_path: Path) -> ExportSettings:
    return ExportSettings(base_path=tmp_path / "out")
