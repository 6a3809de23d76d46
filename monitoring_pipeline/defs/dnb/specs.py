"""Names shared by the D&B side's assets, checks, sensors and jobs: groups, owners, pools, tags, check names."""

import dagster as dg

GROUP = "dnb_notifications"
REGISTRATIONS_GROUP = "dnb"
OWNERS = ["team:data-platform"]
DNB_POOL = "dnb_api"  # every asset that calls D&B: a long backfill holds few runs that only wait on the budget

TRIGGER_TAG = "monitoring_pipeline/trigger"
LANDING_TRIGGER = "landing"
CATCH_UP_TRIGGER = "catch_up"  # destination_catch_up_sensor: copy what a destination missed, nothing else
# The snapshot a landing-triggered run judges (landed and quarantine high-water marks), set by the sensor.
LANDED_UP_TO_TAG = "monitoring_pipeline/landed_up_to"
QUARANTINED_UP_TO_TAG = "monitoring_pipeline/quarantined_up_to"

# Checks of the day assets.
LANDED_SCHEMA_VALID = "landed_schema_valid"
DUNS_FORMAT = "duns_format"
NO_DUPLICATES = "no_duplicate_notifications"
QUARANTINE_EMPTY = "quarantine_empty"
FILES_MATCH_LANDED = "files_match_landed"
ROWS_MATCH_LANDED = "rows_match_landed"
LANDING_FRESHNESS = "landing_freshness"


def is_landing_run(context: dg.AssetExecutionContext) -> bool:
    """Runs requested by the landing sensor are incremental; backfills and manual runs rebuild and replay."""
    return context.run.tags.get(TRIGGER_TAG) == LANDING_TRIGGER


def is_incremental_run(context: dg.AssetExecutionContext) -> bool:
    """Runs of the landing and catch-up sensors do only the new work; any other run rebuilds its days."""
    return context.run.tags.get(TRIGGER_TAG) in (LANDING_TRIGGER, CATCH_UP_TRIGGER)


def destination_resource_key(name: str) -> str:
    return f"{name}_destination"


def destination_asset_name(name: str) -> str:
    return f"{name}_notification_files"


def destination_check_name(name: str) -> str:
    return f"{name}_files_match_local"
