"""The D&B registrations: those visible to our consumer key, and the sync of declared portfolios with D&B."""

import dagster as dg

from monitoring_pipeline.defs.dnb.resources import DnbApiResource, RegistrationsResource
from monitoring_pipeline.defs.dnb.specs import DNB_POOL, OWNERS, REGISTRATIONS_GROUP
from monitoring_pipeline.defs.shared.metadata import markdown_table
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.notifications.registration_sync import sync_all


@dg.asset(
    group_name=REGISTRATIONS_GROUP,
    kinds={"python", "api"},
    owners=OWNERS,
    description="D&B Direct+ Monitoring registrations visible to our consumer key, with their delivery "
    "settings and suppression state.",
)
def dnb_registrations(context: dg.AssetExecutionContext, dnb: DnbApiResource) -> dg.MaterializeResult:
    client = dnb.get_client()
    rows = []
    for reference in client.list_registrations():
        details = client.get_registration(reference)
        settings = details.messages.registration
        rows.append(
            {
                "reference": reference,
                "trigger": settings.deliveryTrigger or "",
                "type": settings.notificationType or "",
                "product": settings.productId or "",
                "suppressed": details.suppressed,
            }
        )
    pull_ready = [r for r in rows if r["trigger"] == "API_PULL" and not r["suppressed"]]
    context.log.info("%d registrations, %d ready for Pull", len(rows), len(pull_ready))
    return dg.MaterializeResult(
        metadata={
            "registrations": dg.MetadataValue.int(len(rows)),
            "pull_ready": dg.MetadataValue.int(len(pull_ready)),
            "dnb_calls": dg.MetadataValue.int(client.stats.calls),
            "preview": markdown_table(rows, empty="_no registrations_"),
        }
    )


@dg.asset(
    group_name=REGISTRATIONS_GROUP,
    kinds={"python", "api"},
    owners=OWNERS,
    pool=DNB_POOL,
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
    results = sync_all(dnb.get_client(), database.get_engine(), registrations.load(), run_id=context.run.run_id)
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
