"""Remote destinations as daily-partitioned assets downstream of the local files, one per enabled destination.

``<name>_notification_files`` copies the day's local files (the page files of ``notification_files`` and, for a
destination taking Parquet, the day file of ``company_changes``) to its destination (SFTP server or S3 bucket),
idempotently, and checks the copy with ``<name>_files_match_local``. A broken destination fails only its
own asset, with the host/bucket and what failed (no secret), fails its check, records the error in
``destination_status``, and catches up later: the next landing run of the partition, or
``destination_catch_up_sensor`` for days that get no more notifications. Each destination has its own pool
(``destination_<name>``) so a long backfill holds a bounded number of connections.
"""


import functools
import os
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from monitoring_pipeline.defs.dnb.destination_resources import RemoteDestinationResource
from monitoring_pipeline.defs.dnb.resources import NotificationStorageResource
from monitoring_pipeline.defs.dnb.specs import (
    GROUP,
    OWNERS,
    destination_asset_name,
    destination_check_name,
    destination_resource_key,
    is_incremental_run,
)
from monitoring_pipeline.defs.shared.partitions import partition_days
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.destinations.base import DestinationError
from monitoring_pipeline.destinations.status import record_outcome
from monitoring_pipeline.destinations.sync import SyncResult, sync_day, verify_day

PROBLEMS_SHOWN = 10
# How a backfill reads each file's checksum back, by destination kind.
CHECKSUMS_READ = {
    "sftp": "every file is downloaded and hashed",
    "s3": "every object's SHA-256 as S3 computed it on upload is read back (a HEAD; for objects uploaded by "
    "earlier versions, the sha256 recorded in their metadata)",
}


def unexpected_error(error: Exception, data_dir: Path) -> str:
    """What ``destination_status`` records for an error we did not expect: its type, and for a local file that
    vanished, which one (relative to the data directory: nothing else of the message, which may say anything)."""
    if isinstance(error, FileNotFoundError) and error.filename:
        try:
            missing = Path(os.fsdecode(error.filename)).resolve().relative_to(data_dir.resolve())
        except ValueError:
            return type(error).__name__
        return (f"FileNotFoundError: the local file {missing.as_posix()} is gone (the manifest lists it; "
                "the next run of notification_files for the day writes it again)")
    return type(error).__name__


def _metadata(result: SyncResult) -> dict[str, object]:
    """The same numeric keys every time, so the UI plots them across partitions."""
    return {
        "files_written": result.files_written,
        "bytes_written": result.bytes_written,
        "files_unchanged": result.files_unchanged,
        "files_removed": result.files_removed,
        "files_repaired": result.files_repaired,
        "files_stored": result.files_stored,
        "retries": result.retries,
        "duration_seconds": round(result.seconds, 3),
    }


def build_destination_asset(
    partitions: dg.DailyPartitionsDefinition, name: str, kind: str, upstream: list[dg.AssetsDefinition]
) -> dg.AssetsDefinition:
    key = destination_resource_key(name)
    check = destination_check_name(name)
    day_asset = functools.partial(
        dg.asset, partitions_def=partitions, group_name=GROUP, owners=OWNERS
    )

    @day_asset(
        name=destination_asset_name(name),
        deps=upstream,
        kinds={"python", kind},
        pool=f"destination_{name}",
        required_resource_keys={"database", "storage", key},
        check_specs=[
            dg.AssetCheckSpec(
                name=check,
                asset=destination_asset_name(name),
                description=f"The day's files on {name} match the local day: every file present with the recorded "
                f"size and source, nothing extra; on backfills {CHECKSUMS_READ.get(kind, 'every checksum is read')} "
                "and compared with the manifest.",
            )
        ],
        description=f"The day's notification files copied to the {kind.upper()} destination '{name}' under the "
        "same notifications/YYYY/MM/DD/<reference>/ tree (and company_changes/YYYY/MM/DD/ when it takes Parquet): "
        "only missing or changed files are sent, each atomically; a backfill also verifies checksums, repairs "
        "and removes stale files.",
    )
    def _copy(context: dg.AssetExecutionContext):  # type: ignore[no-untyped-def]
        database: ProjectDatabaseResource = context.resources.database
        storage: NotificationStorageResource = context.resources.storage
        destination: RemoteDestinationResource = getattr(context.resources, key)
        engine, local, target = database.get_engine(), storage.export_settings(), destination.target()
        rebuild = not is_incremental_run(context)
        days = partition_days(context)
        partition = context.partition_key_range.start
        if context.partition_key_range.end != partition:
            partition += f"...{context.partition_key_range.end}"
        total = SyncResult()
        problems: list[str] = []
        try:
            store = destination.get_store()
            for day in days:
                total.add(sync_day(engine, local, store, target, day, rebuild=rebuild))
            for day in days:
                # Judges what this run copied: files a newer run added locally meanwhile are that run's to copy.
                problems += verify_day(engine, store, target, day, checksums=rebuild, known_digests=total.verified,
                                       copied=total.planned)
        except DestinationError as error:
            message = str(error)
            record_outcome(engine, name, kind, destination.describe(), partition, error=message)
            context.log.error("destination %s failed: %s", name, message)
            yield dg.AssetCheckResult(
                check_name=check, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                metadata={"error": message, "count": 1},
            )
            raise dg.Failure(description=message, metadata={"destination": destination.describe()}) from None
        except Exception as error:
            # Not a destination fault we describe ourselves: record its type only, the message may say anything.
            record_outcome(engine, name, kind, destination.describe(), partition,
                           error=unexpected_error(error, local.base_path))
            raise
        record_outcome(
            engine, name, kind, destination.describe(), partition,
            error=f"{len(problems)} problem(s) after copying: {problems[0]}" if problems else None,
        )
        yield dg.MaterializeResult(
            metadata={
                **_metadata(total),
                "mode": "rebuild" if rebuild else "incremental",
                "destination": destination.describe(),
                "written": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in total.paths) or "_none_"),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=check,
                    passed=not problems,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "count": len(problems),
                        "checksums": "every file, read back" if rebuild else "not read (sizes; backfills read them)",
                        "examples": dg.MetadataValue.md(
                            "\n".join(f"- {p}" for p in problems[:PROBLEMS_SHOWN]) or "_none_"
                        ),
                    },
                )
            ],
        )

    return _copy


def build_destination_assets(
    partitions: dg.DailyPartitionsDefinition,
    resources: Mapping[str, RemoteDestinationResource],
    upstream: list[dg.AssetsDefinition],
) -> list[dg.AssetsDefinition]:
    """One asset per destination resource (keyed by destination name)."""
    return [build_destination_asset(partitions, name, r.kind, upstream) for name, r in sorted(resources.items())]
