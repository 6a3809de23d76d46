"""The D&B registrations visible to our consumer key."""


import dagster as dg

from monitoring_pipeline.defs.metadata import markdown_table
from monitoring_pipeline.defs.resources import DnbApiResource


@dg.asset(
    group_name="dnb",
    kinds={"python", "api"},
    owners=["team:data-platform"],
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
