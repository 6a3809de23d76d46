"""A test harness wiring the real notification assets and sensor to an emulator, a database and a temp folder."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy import Engine, select

from monitoring_pipeline.defs.dnb.assets import build_notification_assets
from monitoring_pipeline.defs.dnb.checks import build_landing_freshness_check
from monitoring_pipeline.defs.dnb.resources import DnbApiResource, NotificationStorageResource, RegistrationsResource
from monitoring_pipeline.defs.dnb.sensors import build_landing_sensor
from monitoring_pipeline.defs.dnb.specs import LANDING_TRIGGER, TRIGGER_TAG
from monitoring_pipeline.defs.shared.partitions import daily_partitions
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.fakes.dnb_emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_notification_elements, dnb_notifications
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.defs.settings import SETTINGS

REGISTRATION_YAML = """\
reference: {reference}
description: end-to-end test registration
productId: cmpelk
versionId: v2
notificationType: UPDATE
seedData: false
deliveryTrigger: API_PULL
portfolio: ["001017545", "213310873", "804735132"]
"""


@dataclass
class Pipeline:
    admin: EmulatorAdmin
    engine: Engine
    data_dir: Path
    resources: dict[str, Any]
    settings: ProjectSettings

    def __post_init__(self) -> None:
        self.partitions = partitions = daily_partitions(self.settings)
        built = build_notification_assets(partitions)
        self.day_assets = built.day_assets
        self.file_assets = [built.notification_files, built.company_changes]  # what destinations copy
        self.companies = built.monitored_companies
        self.freshness = build_landing_freshness_check(self.settings, self.companies)
        self.sensor = build_landing_sensor(self.settings, partitions, self.day_assets, self.companies)

    def tick(self, cursor: str | None = None, **settings: Any) -> dg.SensorResult:
        """One tick of the landing sensor; ``settings`` override the pipeline's (e.g. ``run_interval_seconds``)."""
        sensor = self.sensor
        if settings:
            sensor = build_landing_sensor(replace(self.settings, **settings), self.partitions, self.day_assets,
                                          self.companies)
        with dg.build_sensor_context(cursor=cursor, resources=self.resources) as context:
            return sensor(context)

    def materialize_day(self, day: date, *, landing_run: bool,
                        tags: Mapping[str, str] | None = None) -> dg.ExecuteInProcessResult:
        """A run of the day assets: a landing-triggered one (with the sensor's ``tags`` when given), or a rebuild."""
        run_tags = dict(tags or {}) or ({TRIGGER_TAG: LANDING_TRIGGER} if landing_run else {})
        return dg.materialize(
            self.day_assets,
            partition_key=day.isoformat(),
            resources=self.resources,
            tags=run_tags,
            raise_on_error=False,
        )

    def file_digests(self) -> dict[str, str]:
        return {
            str(path.relative_to(self.data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.data_dir.rglob("*"))
            if path.is_file()
        }

    def table_rows(self, day: date) -> tuple[list[Any], list[Any], list[Any]]:
        with self.engine.connect() as connection:
            landed = connection.execute(
                select(
                    dnb_landed_notifications.c.notification_key,
                    dnb_landed_notifications.c.payload,
                    dnb_landed_notifications.c.delivery_ts,
                ).where(dnb_landed_notifications.c.delivery_day == day).order_by(
                    dnb_landed_notifications.c.notification_key
                )
            ).all()
            notifications = connection.execute(
                select(dnb_notifications).where(dnb_notifications.c.delivery_day == day).order_by(
                    dnb_notifications.c.notification_key
                )
            ).all()
            elements = connection.execute(
                select(dnb_notification_elements).where(dnb_notification_elements.c.delivery_day == day).order_by(
                    dnb_notification_elements.c.notification_key, dnb_notification_elements.c.position
                )
            ).all()
        return landed, notifications, elements


def build_pipeline(emulator_url: str, engine: Engine, tmp_path: Path, references: list[str],
                   **settings_overrides: Any) -> Pipeline:
    registrations_dir = tmp_path / "registrations"
    registrations_dir.mkdir(exist_ok=True)
    for reference in references:
        (registrations_dir / f"{reference.lower()}.yaml").write_text(REGISTRATION_YAML.format(reference=reference))
    data_dir = tmp_path / "data"
    resources = {
        "dnb": DnbApiResource(
            base_url=emulator_url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            state_dir=str(tmp_path / "state"),
            rate_limit_per_second=45,
        ),
        "database": ProjectDatabaseResource(url=engine.url.render_as_string(hide_password=False)),
        "storage": NotificationStorageResource(base_path=str(data_dir), formats=["json", "csv", "parquet"]),
        "registrations": RegistrationsResource(directory=str(registrations_dir)),
    }
    return Pipeline(
        admin=EmulatorAdmin(emulator_url),
        engine=engine,
        data_dir=data_dir,
        resources=resources,
        settings=replace(SETTINGS, **settings_overrides),
    )


def today() -> date:
    return datetime.now(UTC).date()
