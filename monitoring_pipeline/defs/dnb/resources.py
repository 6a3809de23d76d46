"""The D&B side's resources: thin configuration over the plain-Python D&B client, file export and registrations."""

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from monitoring_pipeline.defs.shared.outages import without_outage_failure
from monitoring_pipeline.defs.shared.resources import database_url
from monitoring_pipeline.dnb.client import PRODUCTION_BASE_URL, DnbClient
from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.integrations.daily import record_calls, record_dnb_errors
from monitoring_pipeline.notifications.files import ExportSettings
from monitoring_pipeline.notifications.registrations import RegistrationConfig, load_registrations
from monitoring_pipeline.settings import ProjectSettings, state_dir
from monitoring_pipeline.storage.database import shared_engine

DNB_USAGE_NAME = "dnb"  # D&B calls in integration_usage_daily


class DnbApiResource(dg.ConfigurableResource):
    """D&B Direct+ API access with one token and one rate limit shared by every sensor tick and run."""

    base_url: str = Field(default=PRODUCTION_BASE_URL, description="D&B Direct+ base URL (or the emulator's).")
    client_id: str = Field(description="Consumer key; pass as dg.EnvVar('DNB_CLIENT_ID').")
    client_secret: str = Field(description="Consumer secret; pass as dg.EnvVar('DNB_CLIENT_SECRET').")
    api_version: Literal["v3", "v2"] = Field(default="v3", description="OAuth token endpoint version.")
    rate_limit_per_second: float = Field(
        default=5.0, gt=0, description="Calls per second for this key across all processes (D&B: 5)."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    max_attempts: int = Field(default=10, ge=1, description="Attempts per call on 429, 5xx and timeouts.")
    state_dir: str | None = Field(
        default=None,
        description="Private directory for the shared token and rate-limit state "
        "(default $MONITORING_PIPELINE_HOME or ~/.monitoring_pipeline).",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL: share token and rate limit across machines instead of via local files.",
    )

    calls_database_url: str | None = Field(
        default=None,
        description="Project database where this resource adds up the D&B calls it made per day (usage figures).",
    )

    _client: DnbClient | None = PrivateAttr(default=None)
    _calls_recorded: int = PrivateAttr(default=0)
    _errors_recorded: Counter[str] = PrivateAttr(default_factory=Counter)

    def connection_settings(self) -> DnbConnectionSettings:
        return DnbConnectionSettings(
            client_id=self.client_id,
            client_secret=self.client_secret,
            base_url=self.base_url,
            api_version=self.api_version,
            rate_limit_per_second=self.rate_limit_per_second,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            state_dir=Path(self.state_dir).expanduser() if self.state_dir else state_dir(),
            database_url=self.database_url or None,
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # The client is built on first use (get_client), inside the tick or asset: with a PostgreSQL-shared token
        # and rate limit, building it needs the database, whose outage the tick reports in one line.
        if self._client is not None:
            without_outage_failure("recording the D&B calls made", self.record_calls, context.log)
            self._client.close()
            self._client = None

    def record_calls(self) -> int:
        """Add the calls made since the last record to today's D&B count (integration_usage_daily and the ops
        service's dnb_api_calls_total read it), and the failed ones to today's count per reason
        (dnb_api_errors_total)."""
        if self._client is None or not self.calls_database_url:
            return 0
        engine, today = shared_engine(self.calls_database_url), datetime.now(UTC).date()
        calls = self._client.stats.calls - self._calls_recorded
        if calls > 0:
            record_calls(engine, DNB_USAGE_NAME, calls, today)
            self._calls_recorded += calls
        errors = self._client.stats.errors - self._errors_recorded
        if errors:
            record_dnb_errors(engine, errors, today)
            self._errors_recorded.update(errors)
        return calls

    def get_client(self) -> DnbClient:
        """The run's (or tick's) client, built on first use and closed at teardown."""
        if self._client is None:
            self._client = build_client(self.connection_settings())
        return self._client


def dnb_resource(settings: ProjectSettings) -> DnbApiResource:
    """The D&B resource as deployed: settings from ``ProjectSettings``, the key and secret as EnvVars."""
    return DnbApiResource(
        base_url=settings.dnb.base_url,
        client_id=dg.EnvVar("DNB_CLIENT_ID"),
        client_secret=dg.EnvVar("DNB_CLIENT_SECRET"),
        api_version=settings.dnb.api_version,  # type: ignore[arg-type]
        rate_limit_per_second=settings.dnb.rate_limit_per_second,
        state_dir=str(settings.home),
        # PostgreSQL shares token and rate limit across machines; an EnvVar, the URL may carry a password.
        database_url=database_url(settings) if settings.database_url_from_env else None,
        calls_database_url=database_url(settings),
    )


class NotificationStorageResource(dg.ConfigurableResource):
    """Where and how notification files are written on local disk."""

    base_path: str = Field(description="Root of the notifications/YYYY/MM/DD/<reference>/ tree.")
    formats: list[str] = Field(default=["json"], description="json (always), csv, parquet.")
    gzip: bool = Field(default=False, description="Compress JSON and CSV files.")

    def export_settings(self) -> ExportSettings:
        return ExportSettings(base_path=Path(self.base_path).expanduser(), formats=tuple(self.formats), gzip=self.gzip)


class RegistrationsResource(dg.ConfigurableResource):
    """The declared registrations and portfolios (config/registrations/*.yaml)."""

    directory: str = Field(description="Folder of registration YAML files.")

    def load(self) -> list[RegistrationConfig]:
        return load_registrations(Path(self.directory))

    def pulled_references(self) -> list[str]:
        return [config.reference for config in self.load() if config.pulls]
