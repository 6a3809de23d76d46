"""Reading the delivery log: every attempt with its time, receiver, channel, outcome, HTTP status or SMTP reply,
latency and attempt number (``monitoring-pipeline alerts deliveries``), and receiver health."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from monitoring_pipeline.storage.schema import alert_delivery_log, alert_outbox, alert_receiver_status

# How far back a search for one alert's deliveries looks (attempts, newest first).
ALERT_SEARCH_WINDOW = 20_000


def _alert_ids(payload: str) -> list[int]:
    try:
        return [int(alert["id"]) for alert in json.loads(payload).get("alerts", [])]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


def recent_deliveries(engine: Engine, alert_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest ``limit`` attempts, newest first; with ``alert_id``, only those of notifications about it."""
    log, outbox = alert_delivery_log, alert_outbox
    query = (select(log, outbox.c.group_key, outbox.c.status.label("notification_status"), outbox.c.payload)
             .join(outbox, outbox.c.id == log.c.outbox_id, isouter=True)
             .order_by(log.c.id.desc()).limit(limit if alert_id is None else ALERT_SEARCH_WINDOW))
    found: list[dict[str, Any]] = []
    with engine.connect() as connection:
        for row in connection.execute(query):
            alerts = _alert_ids(row.payload or "")
            if alert_id is not None and alert_id not in alerts:
                continue
            entry = {k: v for k, v in row._mapping.items() if k != "payload"}
            entry["alert_ids"] = alerts
            found.append(entry)
            if len(found) >= limit:
                break
    return found


def receiver_states(engine: Engine) -> list[dict[str, Any]]:
    """Each receiver's delivery health and what waits for it (pending and held notifications), for `status`."""
    outbox = alert_outbox
    waiting = (select(outbox.c.receiver, outbox.c.status, func.count()).where(outbox.c.status.in_(("pending", "held")))
               .group_by(outbox.c.receiver, outbox.c.status))
    with engine.connect() as connection:
        counts: dict[tuple[str, str], int] = {(r, s): n for r, s, n in connection.execute(waiting)}
        rows = connection.execute(select(alert_receiver_status).order_by(alert_receiver_status.c.receiver))
        return [jsonable({k: v for k, v in row._mapping.items() if k != "config_hash"}
                         | {"pending": counts.get((row.receiver, "pending"), 0),
                            "held": counts.get((row.receiver, "held"), 0)}) for row in rows]


def jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in entry.items()}


def render_deliveries(entries: list[dict[str, Any]]) -> str:
    """A table a person reads, oldest first."""
    if not entries:
        return "No delivery attempts recorded."
    header = f"{'time (UTC)':<19}  {'receiver':<16} {'channel':<22} {'kind':<15} {'#':>2}  {'outcome':<9} " \
             f"{'code':>4} {'ms':>7}  detail"
    lines = [header]
    for e in reversed(entries):
        channel = e["channel"] if e["channel"] == e["channel_type"] else f"{e['channel']} ({e['channel_type']})"
        latency = f"{e['latency_ms']:.0f}" if e["latency_ms"] is not None else "-"
        lines.append(f"{e['attempted_at']:%Y-%m-%d %H:%M:%S}  {e['receiver']:<16} {channel:<22} {e['kind']:<15} "
                     f"{e['attempt']:>2}  {e['outcome']:<9} {e['status_code'] or '-':>4} {latency:>7}  "
                     f"{e['detail'] or ''}")
    return "\n".join(lines)
