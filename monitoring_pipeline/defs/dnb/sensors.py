"""Sensors of the D&B side: landing (drains D&B, requests day runs), registration sync, destination catch-up."""

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from sqlalchemy import func, select

from monitoring_pipeline.defs.dnb.resources import DnbApiResource, RegistrationsResource
from monitoring_pipeline.defs.dnb.specs import CATCH_UP_TRIGGER, LANDING_TRIGGER, TRIGGER_TAG, destination_asset_name
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.destinations.catchup import CatchUpTarget, plan_catch_ups
from monitoring_pipeline.destinations.config import S3Config, SftpConfig
from monitoring_pipeline.notifications.landing import land_all
from monitoring_pipeline.notifications.registration_sync import pending_transfer_count
from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline.storage.schema import dnb_landed_notifications

COMPANIES_KEY = "__companies__"
# Requests older than this are forgotten; the cursor stays a few hundred bytes.
_CURSOR_MEMORY_SECONDS = 3 * 24 * 3600


@dataclass
class LandingCursor:
    """Days with landed notifications not yet requested, and when each day was last requested."""

    pending: set[str] = field(default_factory=set)
    requested: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(pending=set(data.get("pending", [])), requested=dict(data.get("requested", {})))

    def dump(self, now: float) -> str:
        recent = {k: v for k, v in self.requested.items() if now - v < _CURSOR_MEMORY_SECONDS}
        return json.dumps({"pending": sorted(self.pending), "requested": recent}, sort_keys=True)

    def due(self, key: str, now: float, interval: float) -> bool:
        return now - self.requested.get(key, 0.0) >= interval


def build_landing_sensor(
    settings: ProjectSettings,
    partitions: dg.DailyPartitionsDefinition,
    day_assets: list[dg.AssetsDefinition],
    companies_asset: dg.AssetsDefinition,
) -> dg.SensorDefinition:
    day_keys = [key for asset in day_assets for key in asset.keys]

    @dg.sensor(
        name="dnb_landing_sensor",
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=[*day_keys, *companies_asset.keys],
    )
    def dnb_landing_sensor(
        context: dg.SensorEvaluationContext,
        dnb: DnbApiResource,
        database: ProjectDatabaseResource,
        registrations: RegistrationsResource,
    ) -> dg.SensorResult:
        """Drains D&B Pull for every API_PULL registration within the tick's time budget, landing each page before
        the next Pull (replaying first from each registration's cursor), then requests runs for the delivery days
        that received notifications, at most once per day per interval."""
        cursor = LandingCursor.parse(context.cursor)
        engine = database.get_engine()
        landings = land_all(
            dnb.get_client(),
            engine,
            registrations.pulled_references(),
            time_budget_seconds=settings.tick_budget_seconds,
        )
        landed = 0
        for landing in landings:
            landed += landing.landed
            cursor.pending.update(day.isoformat() for day in landing.days)
            if landing.error:
                context.log.warning("landing %s: %s", landing.reference, landing.error)
            elif landing.landed or landing.quarantined:
                context.log.info(
                    "landed %d from %s (%d quarantined, %d recovered by replay)",
                    landing.landed, landing.reference, landing.quarantined, landing.recovered,
                )
        if landed:
            cursor.pending.add(COMPANIES_KEY)

        now = time.time()
        run_requests = []
        for day in sorted(cursor.pending - {COMPANIES_KEY}):
            if not partitions.has_partition_key(day):
                context.log.warning("notifications delivered on %s fall outside the partitions; landed only", day)
                cursor.pending.discard(day)
                continue
            if cursor.due(day, now, settings.run_interval_seconds):
                run_requests.append(
                    dg.RunRequest(
                        run_key=f"{day}:{_landed_marker(engine, day)}",
                        partition_key=day,
                        asset_selection=day_keys,
                        tags={TRIGGER_TAG: LANDING_TRIGGER},
                    )
                )
                cursor.requested[day] = now
                cursor.pending.discard(day)
        if COMPANIES_KEY in cursor.pending and cursor.due(COMPANIES_KEY, now, settings.run_interval_seconds):
            run_requests.append(
                dg.RunRequest(
                    run_key=f"companies:{_landed_marker(engine, None)}",
                    asset_selection=list(companies_asset.keys),
                    tags={TRIGGER_TAG: LANDING_TRIGGER},
                )
            )
            cursor.requested[COMPANIES_KEY] = now
            cursor.pending.discard(COMPANIES_KEY)
        skip = None if run_requests else (
            f"landed {landed} notifications; runs wait for their interval" if landed or cursor.pending
            else "nothing new"
        )
        return dg.SensorResult(run_requests=run_requests, cursor=cursor.dump(now), skip_reason=skip)

    return dnb_landing_sensor


def _landed_marker(engine, day) -> int:  # type: ignore[no-untyped-def]
    """The highest landed id (of ``day``, or overall): a run key that changes exactly when new data lands."""
    query = select(func.max(dnb_landed_notifications.c.id))
    if day is not None:
        query = query.where(dnb_landed_notifications.c.delivery_day == day)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one() or 0


@dg.sensor(
    name="dnb_registration_sync_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[dg.AssetKey("dnb_registration_sync")],
)
def dnb_registration_sync_sensor(
    context: dg.SensorEvaluationContext, database: ProjectDatabaseResource, registrations: RegistrationsResource
) -> dg.SensorResult | dg.SkipReason:
    """Requests a registration sync when the registration files change, and when TRANSFER actions are waiting
    for a registration that applies them automatically."""
    configs = registrations.load()
    config_hash = _files_hash(sorted({c.source_file for c in configs}))
    engine = database.get_engine()
    waiting = sum(pending_transfer_count(engine, c.reference) for c in configs if c.apply_transfers)
    key = f"{config_hash}:{waiting}"
    if key == context.cursor:
        return dg.SkipReason("registrations unchanged, no transfer waiting")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key)], cursor=key)


def _files_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_catch_up_sensors(
    destinations: Mapping[str, SftpConfig | S3Config], clock: Callable[[], float] = time.time
) -> list[dg.SensorDefinition]:
    """The sensor that requests copies of the past days a destination missed (none without remote destinations)."""
    targets = {
        name: CatchUpTarget(name, config.target, config.catch_up_days) for name, config in destinations.items()
    }
    if not targets:
        return []

    @dg.sensor(
        name="destination_catch_up_sensor",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=[dg.AssetKey(destination_asset_name(name)) for name in sorted(targets)],
    )
    def destination_catch_up_sensor(
        context: dg.SensorEvaluationContext, database: ProjectDatabaseResource
    ) -> dg.SensorResult:
        """Every 5 minutes, finds past days (within each destination's catch_up_days) whose local files are not all
        on a remote destination, from the manifests alone, and requests an incremental copy of each: a destination
        that was down catches up by itself. A day still lagging is asked again after 5, 10, 20, 40 then every 60
        minutes."""
        now = clock()
        today = datetime.fromtimestamp(now, UTC).date()
        due, cursor = plan_catch_ups(database.get_engine(), targets, today, context.cursor, now)
        requests = [
            dg.RunRequest(
                run_key=f"catch-up:{c.destination}:{c.day.isoformat()}:{c.attempt}:{int(now)}",
                partition_key=c.day.isoformat(),
                asset_selection=[dg.AssetKey(destination_asset_name(c.destination))],
                tags={TRIGGER_TAG: CATCH_UP_TRIGGER},
            )
            for c in due
        ]
        for c in due:
            context.log.info("%s is missing files of %s (attempt %d): requesting a copy", c.destination, c.day,
                             c.attempt)
        return dg.SensorResult(run_requests=requests, cursor=cursor,
                               skip_reason=None if requests else "every destination is in step with the local days")

    return [destination_catch_up_sensor]
