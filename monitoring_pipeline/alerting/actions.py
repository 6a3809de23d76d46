"""What people do to alerts: acknowledge and resolve (silences are in ``silences.py``).

Each takes the caller's ``Connection`` and writes in its transaction, so the ops service can consume an
acknowledgement link in the same commit. Each has the engine's full effect: the history event with who and why,
acknowledgement notices to every receiver that was told (through the outbox), reminders and escalation stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.config import AlertingConfig, EventRule, parse_alerting
from monitoring_pipeline.alerting.dispatch import Dispatcher, LinkBuilder
from monitoring_pipeline.alerting.store import ACKNOWLEDGED, PENDING, RESOLVED, HistoryEvent

AckOutcome = Literal["acknowledged", "already_acknowledged", "resolved", "pending", "not_found"]
ResolveOutcome = Literal["resolved", "already_resolved", "not_an_event", "not_found"]
_NO_CONFIG: AlertingConfig | None = None


def acknowledge(connection: Connection, alert_id: int, by: str, comment: str, now: datetime, *,
                config: AlertingConfig | None = None, links: LinkBuilder | None = None) -> AckOutcome:
    """Acknowledge a firing alert: ``acknowledged``, or why not (``already_acknowledged``, ``resolved``, ``pending``:
    it has not fired yet, ``not_found``). An event alert whose rule says ``resolve_on_ack`` (the default) is
    resolved too; its resolved notice goes out at the next evaluation."""
    store.lock(connection, now)
    row = store.alert_by_id(connection, alert_id)
    if row is None:
        return "not_found"
    if row.state == RESOLVED:
        return "resolved"
    if row.state == ACKNOWLEDGED:
        return "already_acknowledged"
    if row.state == PENDING:
        return "pending"
    by = (by or "").strip() or "unknown"
    row.state = ACKNOWLEDGED
    row.acknowledged_at = now
    row.acknowledged_by = by
    row.acknowledgement_comment = comment or None
    row.updated_at = now
    events = [HistoryEvent(row.id, now, "acknowledged", comment or "acknowledged", by)]
    dispatcher = Dispatcher(config or _empty_config(), links)
    told = dispatcher.acknowledged(connection, row, now)
    events += told.events
    rule = config.rule(row.rule) if config else None
    if row.is_event and (not isinstance(rule, EventRule) or rule.resolve_on_ack):
        _resolve(row, now, by, "acknowledged (an event alert resolves when acknowledged)", events)
        store.save_alerts(connection, [row])
        dispatcher.wake(connection, [row], now)
    store.save_alerts(connection, [row])
    store.record_events(connection, events)
    return "acknowledged"


def resolve(connection: Connection, alert_id: int, by: str, comment: str, now: datetime,
            config: AlertingConfig | None = None) -> ResolveOutcome:
    """Resolve an event alert by hand (a state alert resolves when its condition stops holding: ``not_an_event``).
    Its resolved notice goes out at the next evaluation."""
    store.lock(connection, now)
    row = store.alert_by_id(connection, alert_id)
    if row is None:
        return "not_found"
    if row.state == RESOLVED:
        return "already_resolved"
    if not row.is_event:
        return "not_an_event"
    events: list[HistoryEvent] = []
    _resolve(row, now, (by or "").strip() or "unknown", comment or "resolved by hand", events)
    store.save_alerts(connection, [row])
    Dispatcher(config or _empty_config()).wake(connection, [row], now)
    store.record_events(connection, events)
    return "resolved"


def _resolve(row: store.AlertRow, now: datetime, by: str, why: str, events: list[HistoryEvent]) -> None:
    row.set_resolved(now, by)
    events.append(HistoryEvent(row.id, now, RESOLVED, why, by))


def _empty_config() -> AlertingConfig:
    global _NO_CONFIG
    if _NO_CONFIG is None:
        from pathlib import Path

        _NO_CONFIG = parse_alerting(Path("(no alerting file)"), {"default_rules": False})
    return _NO_CONFIG


def outcome_message(outcome: str, alert_id: int, extra: Mapping[str, str] | None = None) -> str:
    """One line for people (the CLI, the ops service's pages)."""
    messages = {
        "acknowledged": f"alert {alert_id} acknowledged; reminders and escalation stop",
        "already_acknowledged": f"alert {alert_id} was already acknowledged",
        "resolved": f"alert {alert_id} is resolved",
        "already_resolved": f"alert {alert_id} was already resolved",
        "pending": f"alert {alert_id} has not fired yet (pending): nothing to acknowledge",
        "not_an_event": f"alert {alert_id} resolves by itself when its condition stops holding; acknowledge or "
                        "silence it instead",
        "not_found": f"no alert {alert_id}",
    }
    return messages.get(outcome, outcome)
