"""Names shared by alerting's assets, checks, sensors and jobs."""

import dagster as dg

GROUP = "alerting"
OWNERS = ["team:platform"]
ALERT_ENGINE = dg.AssetKey("alert_engine")  # the engine itself: observed by its sensor, judged by its check
HEALTH_CHECK = "alerting_healthy"
HISTORY_ASSET = "alert_history_daily"
