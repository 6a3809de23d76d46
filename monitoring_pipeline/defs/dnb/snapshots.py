"""The snapshot a day run judges: the landing sensor's run tags, else the one the run's first asset records."""

import dagster as dg
from sqlalchemy import Engine

from monitoring_pipeline.defs.dnb.specs import LANDED_UP_TO_TAG, QUARANTINED_UP_TO_TAG
from monitoring_pipeline.notifications.snapshots import Snapshot, run_snapshot


def snapshot_tags(snapshot: Snapshot) -> dict[str, str]:
    """Run tags carrying ``snapshot``: shown with the run in the UI, kept by a re-execution."""
    return {LANDED_UP_TO_TAG: str(snapshot.landed_up_to), QUARANTINED_UP_TO_TAG: str(snapshot.quarantined_up_to)}


def day_run_snapshot(context: dg.AssetExecutionContext, engine: Engine) -> Snapshot:
    """What every asset and check of this run judges: landed up to the sensor's marks for a landing-triggered
    run; for any other run (a backfill, after its replay), the marks its first asset to ask recorded."""
    tags = context.run.tags
    if LANDED_UP_TO_TAG in tags and QUARANTINED_UP_TO_TAG in tags:
        return Snapshot(int(tags[LANDED_UP_TO_TAG]), int(tags[QUARANTINED_UP_TO_TAG]))
    return run_snapshot(engine, context.run.run_id)


def snapshot_metadata(snapshot: Snapshot) -> dict[str, int]:
    """The marks judged, for the asset's and checks' metadata."""
    return {"landed_up_to": snapshot.landed_up_to or 0, "quarantined_up_to": snapshot.quarantined_up_to or 0}
