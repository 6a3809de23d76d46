"""Sensors of the D&B side: landing (drains D&B, requests day runs), registration sync, destination catch-up."""

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import dagster as dg
from sqlalchemy import Engine, func, select

from monitoring_pipeline.config_errors import ConfigFileError
from monitoring_pipeline.defs.dnb.resources import DnbApiResource, RegistrationsResource
from monitoring_pipeline.defs.dnb.snapshots import snapshot_tags
from monitoring_pipeline.defs.dnb.specs import CATCH_UP_TRIGGER, LANDING_TRIGGER, TRIGGER_TAG, destination_asset_name
from monitoring_pipeline.defs.shared.outages import survive_database_outage
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.destinations.catchup import CatchUpTarget, plan_catch_ups
from monitoring_pipeline.destinations.config import S3Config, SftpConfig
from monitoring_pipeline.notifications.landing import land_all
from monitoring_pipeline.notifications.registration_sync import newest_pending_transfer
from monitoring_pipeline.notifications.registrations import RegistrationConfig
from monitoring_pipeline.notifications.snapshots import take_snapshot
from monitoring_pipeline.settings import ProjectSettings
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_quarantine

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
        that received notifications (or quarantined ones), at most once per day per interval, each tagged with the
        landed snapshot its checks judge."""

        def tick(stored: str | None) -> dg.SensorResult:
            cursor = LandingCursor.parse(stored)
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
                # A delivery with nothing valid in it still gets its day's checks run again (quarantine_empty).
                cursor.pending.update(day.isoformat() for day in landing.touched_days)
                if landing.error:
                    context.log.warning("landing %s: %s", landing.reference, landing.error)
                elif landing.landed or landing.quarantined:
                    context.log.info(
                        "landed %d from %s (%d quarantined, %d recovered by replay)",
                        landing.landed, landing.reference, landing.quarantined, landing.recovered,
                    )
            if landed:
                cursor.pending.add(COMPANIES_KEY)
            return _request_runs(context, cursor, engine, landed)

        return survive_database_outage(context, tick)

    def _request_runs(context: dg.SensorEvaluationContext, cursor: LandingCursor, engine: Engine,
                      landed: int) -> dg.SensorResult:
        now = time.time()
        run_requests = []
        due_days = []
        for day in sorted(cursor.pending - {COMPANIES_KEY}):
            if not partitions.has_partition_key(day):
                context.log.warning("notifications delivered on %s fall outside the partitions; landed only", day)
                cursor.pending.discard(day)
            elif cursor.due(day, now, settings.run_interval_seconds):
                due_days.append(day)
        # One snapshot for the tick's requests: every check of each run judges what was landed up to here.
        tags = {TRIGGER_TAG: LANDING_TRIGGER, **snapshot_tags(take_snapshot(engine))} if due_days else {}
        for day in due_days:
            run_requests.append(
                dg.RunRequest(
                    run_key=f"{day}:{_day_marks(engine, date.fromisoformat(day))}",
                    partition_key=day,
                    asset_selection=day_keys,
                    tags=tags,
                )
            )
            cursor.requested[day] = now
            cursor.pending.discard(day)
        if COMPANIES_KEY in cursor.pending and cursor.due(COMPANIES_KEY, now, settings.run_interval_seconds):
            run_requests.append(
                dg.RunRequest(
                    run_key=f"companies:{_day_marks(engine, None)}",
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


def _day_marks(engine: Engine, day: date | None) -> str:
    """The highest landed and quarantined ids (of ``day``, or overall): a run key that changes exactly when new
    data, valid or not, arrives for the day."""
    landed, quarantined = dnb_landed_notifications.c, dnb_quarantine.c
    landed_mark = select(func.coalesce(func.max(landed.id), 0))
    quarantine_mark = select(func.coalesce(func.max(quarantined.id), 0))
    if day is not None:
        landed_mark = landed_mark.where(landed.delivery_day == day)
        quarantine_mark = quarantine_mark.where(quarantined.delivery_day == day)
    with engine.connect() as connection:
        marks = connection.execute(select(landed_mark.scalar_subquery(), quarantine_mark.scalar_subquery())).one()
    return f"{marks[0]}" if day is None else f"{marks[0]}:{marks[1]}"


@dataclass
class RegistrationSyncCursor:
    """What the last requested sync was for: the declared registrations (a hash) and the newest transfer waiting."""

    declared: str | None = None
    newest_transfer: int = 0
    requests: int = 0

    @classmethod
    def parse(cls, text: str | None) -> "RegistrationSyncCursor":
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}  # the cursor of an older version: sync once more
        if not isinstance(data, dict):
            data = {}
        return cls(data.get("declared"), int(data.get("newest_transfer", 0)), int(data.get("requests", 0)))

    def dump(self) -> str:
        return json.dumps(
            {"declared": self.declared, "newest_transfer": self.newest_transfer, "requests": self.requests},
            sort_keys=True,
        )


def declared_registrations_hash(configs: list[RegistrationConfig]) -> str:
    """A hash of what the registration files declare, portfolio files included (not of the file bytes: a comment
    or a renamed file changes nothing to sync)."""
    digest = hashlib.sha256()
    for config in sorted(configs, key=lambda c: c.reference):
        digest.update(config.model_dump_json(exclude={"source_file"}).encode())
    return digest.hexdigest()[:16]


@dg.sensor(
    name="dnb_registration_sync_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[dg.AssetKey("dnb_registration_sync")],
)
def dnb_registration_sync_sensor(
    context: dg.SensorEvaluationContext, database: ProjectDatabaseResource, registrations: RegistrationsResource
) -> dg.SensorResult:
    """Requests a registration sync when what the registration files declare changes (portfolio files included),
    and when a new TRANSFER action waits for a registration that applies them automatically."""

    def tick(stored: str | None) -> dg.SensorResult | dg.SkipReason:
        cursor = RegistrationSyncCursor.parse(stored)
        try:
            configs = registrations.load()
        except ConfigFileError as error:
            # Edited while the code location runs: say what is wrong, sync once it is fixed.
            context.log.warning("registration files not synced: %s", error)
            return dg.SkipReason(f"registration files not synced: {error}")
        declared = declared_registrations_hash(configs)
        newest = newest_pending_transfer(database.get_engine(), [c.reference for c in configs if c.apply_transfers])
        reasons = []
        if declared != cursor.declared:
            reasons.append("the registration files changed" if cursor.declared else "first sync")
        if newest > cursor.newest_transfer:
            reasons.append("a TRANSFER waits to be applied")
        if not reasons:
            # Remember a lower mark too (transfers applied): a later one is then new.
            return dg.SensorResult(
                skip_reason="registrations unchanged, no new transfer waiting",
                cursor=RegistrationSyncCursor(cursor.declared, newest, cursor.requests).dump(),
            )
        requested = RegistrationSyncCursor(declared, newest, cursor.requests + 1)
        context.log.info("requesting a registration sync: %s", ", ".join(reasons))
        # A run key per request: going back to an earlier declaration is a change to sync too.
        run_key = f"registration-sync:{requested.requests}:{declared}:{newest}"
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key)], cursor=requested.dump())

    return survive_database_outage(context, tick)


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

        def tick(stored: str | None) -> dg.SensorResult:
            now = clock()
            today = datetime.fromtimestamp(now, UTC).date()
            due, cursor = plan_catch_ups(database.get_engine(), targets, today, stored, now)
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
            return dg.SensorResult(run_requests=requests, cursor=cursor, skip_reason=None if requests
                                   else "every destination is in step with the local days")

        return survive_database_outage(context, tick)

    return [destination_catch_up_sensor]
