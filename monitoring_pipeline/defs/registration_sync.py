"""Registration sync: declared portfolios reconciled with D&B, and TRANSFER portfolio actions applied."""

import hashlib
from pathlib import Path

import dagster as dg

from monitoring_pipeline.defs.metadata import markdown_table
from monitoring_pipeline.defs.resources import DnbApiResource, ProjectDatabaseResource, RegistrationsResource
from monitoring_pipeline.notifications.portfolio_sync import pending_transfer_count, sync_all


@dg.asset(
    group_name="dnb",
    kinds={"python", "api"},
    owners=["team:data-platform"],
    pool="dnb_api",
)
def dnb_registration_sync(
    context: dg.AssetExecutionContext,
    dnb: DnbApiResource,
    database: ProjectDatabaseResource,
    registrations: RegistrationsResource,
) -> dg.MaterializeResult:
    """Reconciles each declared portfolio (config/registrations) with D&B: adds and removes the difference (single
    calls for a few DUNS, batch upload for many), unsuppresses after the seed when configured, and applies the
    portfolio actions TRANSFER notifications ask for where the registration allows it. Every change is logged."""
    results = sync_all(dnb.get_client(), database.get_engine(), registrations.load(), run_id=context.run_id)
    failed = [r for r in results if not r.ok]
    for result in failed:
        context.log.error("sync of %s failed: %s", result.reference, result.error)
    actions = [
        {"registration": r.reference, "action": action, "duns": duns, "code": code or ""}
        for r in results
        for action, duns, code in r.actions
    ]
    metadata = {
        "registrations": len(results),
        "failed": len(failed),
        "added": sum(r.added for r in results),
        "removed": sum(r.removed for r in results),
        "already_present": sum(r.already_present for r in results),
        "unsuppressed": sum(r.unsuppressed for r in results),
        "batch_uploads": sum(r.batch_uploads for r in results),
        "dnb_calls": sum(r.calls for r in results),
        "transfers_applied": sum(r.transfers_applied for r in results),
        "transfers_pending": sum(r.transfers_pending for r in results),
        "actions": markdown_table(actions[:50], empty="_no changes_"),
    }
    if failed and len(failed) == len(results):
        errors = "; ".join(str(r.error) for r in failed)
        raise dg.Failure("no registration could be synced", metadata={"errors": errors})
    return dg.MaterializeResult(metadata=metadata)


@dg.sensor(
    name="dnb_registration_sync_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[dnb_registration_sync],
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
