"""Dagster resources: thin configuration over the plain-Python clients."""


from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from monitoring_pipeline.dnb.client import PRODUCTION_BASE_URL, DnbClient
from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.settings import state_dir


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

    _client: DnbClient | None = PrivateAttr(default=None)

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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = build_client(self.connection_settings())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get_client(self) -> DnbClient:
        """The run's (or tick's) client; built lazily when used outside Dagster's lifecycle."""
        if self._client is None:
            self._client = build_client(self.connection_settings())
        return self._client


def dnb_resource_from_env() -> DnbApiResource:
    """The D&B resource as deployed: every setting from environment variables, secrets as EnvVars."""
    return DnbApiResource(
        base_url=dg.EnvVar("DNB_BASE_URL").get_value(PRODUCTION_BASE_URL) or PRODUCTION_BASE_URL,
        client_id=dg.EnvVar("DNB_CLIENT_ID"),
        client_secret=dg.EnvVar("DNB_CLIENT_SECRET"),
        api_version=dg.EnvVar("DNB_API_VERSION").get_value("v3") or "v3",  # type: ignore[arg-type]
        rate_limit_per_second=float(dg.EnvVar("DNB_RATE_LIMIT_PER_SECOND").get_value("5") or 5),
        database_url=dg.EnvVar("DATABASE_URL").get_value() or None,
    )
