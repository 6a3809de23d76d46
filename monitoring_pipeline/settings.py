"""Typed settings from the environment. Secrets are only ever read from environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ENV_HOME = "MONITORING_PIPELINE_HOME"


class SettingsError(ValueError):
    """An environment variable holds something unusable; the message names it and the expected form."""


def state_dir() -> Path:
    """Private directory for state shared by this deployment's processes (token cache, rate-limit slots).

    ``$MONITORING_PIPELINE_HOME`` when set, else ``~/.monitoring_pipeline``.
    """
    configured = os.environ.get(ENV_HOME)
    return Path(configured).expanduser() if configured else Path.home() / ".monitoring_pipeline"


@dataclass(frozen=True)
class NotificationSettings:
    """How notifications are landed, partitioned and stored (see the README's settings table)."""

    database_url: str
    data_dir: Path
    formats: tuple[str, ...]
    gzip: bool
    partitions_start: date
    sensor_interval_seconds: int
    tick_budget_seconds: float
    run_interval_seconds: int
    landing_max_age_minutes: float

    @classmethod
    def from_env(cls) -> NotificationSettings:
        home = state_dir()
        settings = cls(
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'project.db'}",
            data_dir=Path(os.environ.get("MONITORING_PIPELINE_DATA_DIR") or home / "data").expanduser(),
            formats=_formats(os.environ.get("NOTIFICATION_FORMATS", "json")),
            gzip=_flag("NOTIFICATION_GZIP", False),
            partitions_start=_date("DNB_PARTITIONS_START", "2026-01-01"),
            sensor_interval_seconds=int(_number("DNB_SENSOR_INTERVAL_SECONDS", 30, minimum=5)),
            tick_budget_seconds=_number("DNB_TICK_BUDGET_SECONDS", 35, minimum=1, maximum=50),
            run_interval_seconds=int(_number("DNB_RUN_INTERVAL_SECONDS", 300, minimum=0)),
            landing_max_age_minutes=_number("DNB_LANDING_MAX_AGE_MINUTES", 30, minimum=1),
        )
        return settings


def _formats(value: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [f for f in formats if f not in ("json", "csv", "parquet")]
    if unknown:
        raise SettingsError(
            f"NOTIFICATION_FORMATS: expected a comma-separated list of json, csv, parquet; got {value!r}"
        )
    return formats if "json" in formats else ("json", *formats)


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {value!r}")


def _date(name: str, default: str) -> date:
    value = os.environ.get(name) or default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name}: expected a date as YYYY-MM-DD, got {value!r}") from None


def _number(name: str, default: float, *, minimum: float, maximum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return float(default)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise SettingsError(f"{name}: expected a number {bounds}, got {value!r}")
    return number
