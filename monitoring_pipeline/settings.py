"""The project's settings: the one place that reads the environment (and the ``.env`` file beside it).

Everything else receives a ``ProjectSettings``. Secrets are never read here: resources take them as ``dg.EnvVar``
(the UI shows the variable's name, never its value) and configuration files name the variables that hold them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

ENV_HOME = "MONITORING_PIPELINE_HOME"
ENV_DATABASE_URL = "DATABASE_URL"
ENV_REGISTRATIONS_DIR = "MONITORING_PIPELINE_REGISTRATIONS_DIR"
ENV_DESTINATIONS = "MONITORING_PIPELINE_DESTINATIONS"
ENV_INTEGRATIONS_CONFIG = "INTEGRATIONS_CONFIG"
ENV_OPS_CONFIG = "OPS_CONFIG"
ENV_ALERTING_CONFIG = "ALERTING_CONFIG"
ENV_LOG_FORMAT = "MONITORING_PIPELINE_LOG_FORMAT"
ENV_LOG_LEVEL = "MONITORING_PIPELINE_LOG_LEVEL"
LOG_FORMATS = ("text", "json")
# Variables whose values are secrets by their name (any name containing one of these, or ending in _KEY: API_KEY,
# ROUTING_KEY, SIGNING_KEY...): redacted from every log line (logs.py).
SECRET_NAME_PARTS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL", "WEBHOOK")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("json", "csv", "parquet")
PRODUCTION_DNB_URL = "https://plus.dnb.com"
ENV_PARTITIONS_START = "DNB_PARTITIONS_START"
# D&B replays the last 14 days: earlier partitions could only ever be empty on a new deployment.
REPLAY_WINDOW = timedelta(days=14)
FIRST_DAY_FILE = "first_day"  # under the home folder: the UTC day this deployment first loaded


class SettingsError(ValueError):
    """An environment variable holds something unusable; the message names it and the expected form."""


def load_env_file(path: Path = Path(".env")) -> list[str]:
    """Add the variables of a ``.env`` file (as Dagster reads it) that the environment does not set already.

    Commands call this first, so ``monitoring-pipeline status`` in a second terminal sees what the demo (or the
    operator) wrote there. Returns the names it set.
    """
    if not path.is_file():
        return []
    added = []
    for name, value in dotenv_values(path).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
            added.append(name)
    return added


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Private directory for state shared by this deployment's processes (token cache, rate-limit slots).

    ``$MONITORING_PIPELINE_HOME`` when set, else ``~/.monitoring_pipeline``.
    """
    configured = (os.environ if environ is None else environ).get(ENV_HOME)
    return Path(configured).expanduser() if configured else Path.home() / ".monitoring_pipeline"


@dataclass(frozen=True)
class DnbSettings:
    """How to reach D&B Direct+ (the consumer key and secret are read by the resource, as ``dg.EnvVar``)."""

    base_url: str = PRODUCTION_DNB_URL
    api_version: str = "v3"
    rate_limit_per_second: float = 5.0
    client_id_configured: bool = False
    client_id: str | None = None  # not a secret: named in `status`, never the secret itself


@dataclass(frozen=True)
class OpsSettings:
    """Where `monitoring-pipeline serve` listens and the file configuring it and the reports (``OPS_CONFIG``)."""

    host: str = "127.0.0.1"
    port: int = 8767
    config_file: Path | None = None  # None: every default (public status page, no webhook sources, no e-mail)


@dataclass(frozen=True)
class ProjectSettings:
    """Every setting of the project (see the README's settings table), read once from the environment."""

    home: Path
    database_url: str = field(repr=False)  # may carry a password
    data_dir: Path
    partitions_start: date
    registrations_dir: Path
    integrations_file: Path
    alerting_file: Path = PROJECT_ROOT / "config" / "alerting.yaml"  # rules, routes, receivers (may not exist)
    destinations_file: Path | None = None
    # NOTIFICATION_FORMATS / NOTIFICATION_GZIP: override the destinations file's local export when set.
    formats: tuple[str, ...] | None = None
    gzip: bool | None = None
    sensor_interval_seconds: int = 30
    tick_budget_seconds: float = 35.0
    run_interval_seconds: int = 300
    landing_max_age_minutes: float = 30.0
    alert_evaluation_interval_seconds: int = 15  # ALERT_EVALUATION_INTERVAL_SECONDS: alert_evaluation_sensor's cadence
    database_url_from_env: bool = False  # then resources pass DATABASE_URL as an EnvVar, never its value
    dnb: DnbSettings = field(default_factory=DnbSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)

    @property
    def reports_dir(self) -> Path:
        """Where the daily and weekly reports are stored (``<data dir>/reports/YYYY/MM/DD/``)."""
        return self.data_dir / "reports"
    logging: LogSettings = field(default_factory=lambda: LogSettings())
    # Pool limits set by `monitoring-pipeline prod-init` (production): runs calling D&B, copies per destination.
    dnb_pool_limit: int = 2
    destination_pool_limit: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProjectSettings:
        env = os.environ if environ is None else environ
        home = state_dir(env)
        database_url = env.get(ENV_DATABASE_URL)
        formats = env.get("NOTIFICATION_FORMATS")
        return cls(
            home=home,
            database_url=database_url or f"sqlite:///{home / 'project.db'}",
            database_url_from_env=bool(database_url),
            data_dir=Path(env.get("MONITORING_PIPELINE_DATA_DIR") or home / "data").expanduser(),
            formats=parse_formats("NOTIFICATION_FORMATS", formats) if formats else None,
            gzip=_flag(env, "NOTIFICATION_GZIP"),
            sensor_interval_seconds=int(_number(env, "DNB_SENSOR_INTERVAL_SECONDS", 30, minimum=5)),
            tick_budget_seconds=_number(env, "DNB_TICK_BUDGET_SECONDS", 35, minimum=1, maximum=50),
            run_interval_seconds=int(_number(env, "DNB_RUN_INTERVAL_SECONDS", 300, minimum=0)),
            landing_max_age_minutes=_number(env, "DNB_LANDING_MAX_AGE_MINUTES", 30, minimum=1),
            alert_evaluation_interval_seconds=int(_number(env, "ALERT_EVALUATION_INTERVAL_SECONDS", 15, minimum=5,
                                                          maximum=300)),
            registrations_dir=_path(env, ENV_REGISTRATIONS_DIR, _bundled("config/registrations")),
            destinations_file=_optional_file(env, ENV_DESTINATIONS, PROJECT_ROOT / "config" / "destinations.yaml"),
            integrations_file=_path(env, ENV_INTEGRATIONS_CONFIG, _bundled("config/integrations.yaml")),
            alerting_file=_path(env, ENV_ALERTING_CONFIG, _bundled("config/alerting.yaml")),
            dnb=DnbSettings(
                base_url=env.get("DNB_BASE_URL") or PRODUCTION_DNB_URL,
                api_version=_choice(env, "DNB_API_VERSION", ("v3", "v2"), "v3"),
                rate_limit_per_second=_number(env, "DNB_RATE_LIMIT_PER_SECOND", 5, minimum=0.01),
                client_id_configured=bool(env.get("DNB_CLIENT_ID")),
                client_id=env.get("DNB_CLIENT_ID") or None,
            ),
            ops=OpsSettings(
                host=env.get("OPS_HOST") or "127.0.0.1",
                port=int(_number(env, "OPS_PORT", 8767, minimum=0, maximum=65535)),
                config_file=_optional_file(env, ENV_OPS_CONFIG, PROJECT_ROOT / "config" / "ops.yaml"),
            ),
            logging=LogSettings.from_env(env),
            dnb_pool_limit=int(_number(env, "DNB_POOL_LIMIT", 2, minimum=1)),
            destination_pool_limit=int(_number(env, "DESTINATION_POOL_LIMIT", 1, minimum=1)),
            partitions_start=_partitions_start(env, home),  # last: a bad setting above records nothing
        )


def read_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the environment variable a configuration file names for a secret (``token_env: NAME``), read
    when it is used and never stored; None when unset or empty."""
    return (os.environ if environ is None else environ).get(name) or None


@dataclass(frozen=True)
class LogSettings:
    """How the project's own loggers write: ``text`` (the local default) or ``json`` lines, and from which level."""

    format: str = "text"
    level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LogSettings:
        env = os.environ if environ is None else environ
        level = (env.get(ENV_LOG_LEVEL) or "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"{ENV_LOG_LEVEL}: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
                                f"got {level!r}")
        return cls(format=_choice(env, ENV_LOG_FORMAT, LOG_FORMATS, "text"), level=level)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values never to be logged: variables named like secrets (``SECRET_NAME_PARTS``) and the passwords of URLs
    held by any variable (``DATABASE_URL=postgresql://user:password@host/db``). Longest first, so a secret that
    contains another is redacted whole."""
    env = os.environ if environ is None else environ
    values = set()
    for name, value in env.items():
        if not value:
            continue
        if any(part in name.upper() for part in SECRET_NAME_PARTS) or name.upper().endswith("_KEY"):
            values.add(value)
        password = _url_password(value)
        if password:
            values.add(password)
    # Not a secret however its variable is named: a flag, a number, a word too short to be a credential.
    return sorted((v for v in values if len(v) >= 6 and not v.replace(".", "").isdigit()), key=len, reverse=True)


def _url_password(value: str) -> str | None:
    if "://" not in value or "@" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def parse_formats(name: str, value: str) -> tuple[str, ...]:
    """A comma-separated list of file formats; JSON is always written."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    if [f for f in formats if f not in FORMATS]:
        raise SettingsError(f"{name}: expected a comma-separated list of json, csv, parquet; got {value!r}")
    return tuple(f for f in FORMATS if f == "json" or f in formats)


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {value!r}")


def _partitions_start(env: Mapping[str, str], home: Path) -> date:
    """``DNB_PARTITIONS_START`` when set; else the deployment's first day minus D&B's replay window, so that
    a backfill of the first partition can still replay it, and the UI shows no partitions that can only be
    empty. Stable across code-location reloads and processes sharing the home folder."""
    value = env.get(ENV_PARTITIONS_START)
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise SettingsError(f"{ENV_PARTITIONS_START}: expected a date as YYYY-MM-DD, got {value!r}") from None
    today = datetime.now(UTC).date()
    return min(recorded_first_day(home, today), today) - REPLAY_WINDOW


def recorded_first_day(home: Path, today: date | None = None) -> date:
    """The UTC day recorded in ``home/first_day`` the first time any process asked, recording ``today`` then.

    The first writer wins (the file appears whole, by a hard link that fails if it exists), so processes
    starting together agree.
    """
    path = home / FIRST_DAY_FILE
    if not path.is_file():
        day = today or datetime.now(UTC).date()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{FIRST_DAY_FILE}.{os.getpid()}.tmp")
        temp.write_text(day.isoformat() + "\n", encoding="utf-8")
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process recorded it first: read theirs
        finally:
            temp.unlink(missing_ok=True)
    text = path.read_text(encoding="utf-8").strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"{path}: expected the deployment's first day as YYYY-MM-DD, got {text!r} (delete the file to record "
            f"today, or set {ENV_PARTITIONS_START})"
        ) from None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float,
            maximum: float | None = None) -> float:
    value = env.get(name)
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


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    configured = env.get(name)
    return Path(configured).expanduser() if configured else default


def _optional_file(env: Mapping[str, str], name: str, default: Path) -> Path | None:
    configured = env.get(name)
    if configured:
        return Path(configured).expanduser()
    return default if default.is_file() else None


def _bundled(relative: str) -> Path:
    """This checkout's copy of a configuration path, else the same path under the working directory."""
    bundled = PROJECT_ROOT / relative
    return bundled if bundled.exists() else Path(relative)
