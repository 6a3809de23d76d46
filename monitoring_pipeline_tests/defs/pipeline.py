"""A test harness wiring the real notification assets and sensor to an emulator, a database and a temp folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from sqlalchemy import Engine, select

from monitoring_pipeline.defs.landing_sensor import build_landing_sensor
from monitoring_pipeline.defs.notifications import build_notification_assets
from monitoring_pipeline.defs.partitions import LANDING_TRIGGER, TRIGGER_TAG, daily_partitions
from monitoring_pipeline.defs.resources import (
    DnbApiResource,
    NotificationStorageResource,
    ProjectDatabaseResource,
    RegistrationsResource,
)
from monitoring_pipeline.dnb.emulator.admin_client import EmulatorAdmin
from monitoring_pipeline.settings import NotificationSettings
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_notification_elements, dnb_notifications
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET

SETTINGS = NotificationSettings(
    database_url="unused",
    data_dir=Path("unused"),
    formats=("json", "csv", "parquet"),
    gzip=False,
    partitions_start=date(2026, 1, 1),
    sensor_interval_seconds=30,
    tick_budget_seconds=30,
    run_interval_seconds=300,
    landing_max_age_minutes=30,
)

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
    settings: NotificationSettings

    def __post_init__(self) -> None:
        built = build_notification_assets(self.settings)
        self.day_assets = list(built[:5])
        self.companies = built[5]
        self.freshness = built[6]
        self.sensor = build_landing_sensor(
            self.settings, daily_partitions(self.settings), self.day_assets, self.companies
        )

    def tick(self, cursor: str | None = None) -> dg.SensorResult:
        with dg.build_sensor_context(cursor=cursor, resources=self.resources) as context:
            return self.sensor(context)

    def materialize_day(self, day: date, *, landing_run: bool) -> dg.ExecuteInProcessResult:
        tags = {TRIGGER_TAG: LANDING_TRIGGER} if landing_run else {}
        return dg.materialize(
            self.day_assets,
            partition_key=day.isoformat(),
            resources=self.resources,
            tags=tags,
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
