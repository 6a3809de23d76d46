"""D&B as alert sources: company events in landed notifications, and registrations that stopped landing.

Company events are read from ``dnb_landed_notifications`` as they land (minutes before the day runs table them),
past a watermark on its id, selected by notification type, by changed element (its path, and what it became or
was), by registration, and by DUNS list or named portfolio.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from monitoring_pipeline.alerting.config import (
    NOTIFICATION_TYPES,
    DnbEventRule,
    ElementSelector,
    LandingFreshnessRule,
    RuleConfig,
)
from monitoring_pipeline.alerting.sources.base import Collected, Observation, SourceContext, selected
from monitoring_pipeline.alerting.sources.integrations import FIRST_LOOKBACK
from monitoring_pipeline.storage.schema import dnb_landed_notifications, dnb_registration_status

_SHOWN_CHANGES = 5
# Rules selecting by element only look at these: SEEDs carry a whole data block (megabytes) and no element changes.
ELEMENT_TYPES = tuple(kind for kind in NOTIFICATION_TYPES if kind != "SEED")
_VALUE_CHARACTERS = 120


class DnbEventSource:
    name = "dnb_event"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        landed = dnb_landed_notifications.c
        watermark = context.cursors.get("dnb_landed")
        if watermark is None:
            watermark = context.connection.execute(
                select(func.max(landed.id)).where(landed.delivery_day <= (context.now - FIRST_LOOKBACK).date(),
                                                  landed.delivery_ts < context.now - FIRST_LOOKBACK)
            ).scalar_one_or_none() or 0
        event_rules = [rule for rule in rules if isinstance(rule, DnbEventRule)]
        wanted = sorted({kind for rule in event_rules for kind in (rule.types or ELEMENT_TYPES)})
        # The batch is bounded by ids, not by matching rows, so a day of irrelevant notifications costs one query.
        top = context.connection.execute(
            select(func.max(landed.id)).where(landed.id > watermark)
        ).scalar_one_or_none()
        result = Collected()
        if top is None:
            return result
        upper = min(top, watermark + context.dnb_batch)
        result.behind = upper < top
        rows = context.connection.execute(
            select(landed.id, landed.notification_key, landed.reference, landed.duns, landed.notification_type,
                   landed.delivery_ts, landed.payload)
            .where(landed.id > watermark, landed.id <= upper, landed.notification_type.in_(wanted))
            .order_by(landed.id)
        )
        for row in rows:
            notification = _parse(row.payload)
            for rule in event_rules:
                observation = _match(rule, row, notification, context.portfolios)
                if observation is not None:
                    result.observations.append(observation)
        context.cursors["dnb_landed"] = upper
        return result


def _parse(payload: str) -> Mapping[str, Any]:
    try:
        parsed = json.loads(payload)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, Mapping) else {}


def _match(rule: DnbEventRule, row: Any, notification: Mapping[str, Any],
           portfolios: Mapping[str, frozenset[str]]) -> Observation | None:
    if row.notification_type not in (rule.types or ELEMENT_TYPES):
        return None
    if rule.references and row.reference not in rule.references:
        return None
    if rule.duns and row.duns not in rule.duns:
        return None
    labels = {"reference": row.reference, "duns": row.duns, "notification_type": row.notification_type}
    if rule.portfolios:
        portfolio = next((name for name in rule.portfolios if row.duns in portfolios.get(name, ())), None)
        if portfolio is None:
            return None
        labels["portfolio"] = portfolio
    elements = notification.get("elements") or []
    matched = [e for e in elements if isinstance(e, Mapping) and any(_element_matches(s, e) for s in rule.elements)]
    if rule.elements and not matched:
        return None
    if not selected(rule, labels):
        return None
    shown = matched or [e for e in elements if isinstance(e, Mapping)]
    organization = notification.get("organization")
    name = organization.get("primaryName") if isinstance(organization, Mapping) else None
    details = {
        "name": name if isinstance(name, str) else "",
        "elements": [{"element": e.get("element"), "previous": e.get("previous"), "current": e.get("current")}
                     for e in shown[:_SHOWN_CHANGES]],
        "changes": describe_changes(row.notification_type, shown, notification),
        "count": 1,
        "delivery_ts": row.delivery_ts.isoformat(timespec="seconds"),
        "notification_key": row.notification_key,
    }
    if rule.one_alert_per == "notification":
        return Observation(rule.name, labels, True, row.delivery_ts, details=details, identity=row.notification_key)
    return Observation(rule.name, labels, True, row.delivery_ts, details=details, volatile=("notification_type",))


def _element_matches(selector: ElementSelector, element: Mapping[str, Any]) -> bool:
    path = element.get("element")
    if not isinstance(path, str):
        return False
    if selector.path.endswith(".*"):
        if not path.startswith(selector.path[:-1]):
            return False
    elif path != selector.path:
        return False
    if selector.match_current and not _value_matches(selector.current, element.get("current")):
        return False
    return not (selector.match_previous and not _value_matches(selector.previous, element.get("previous")))


def _value_matches(wanted: Any, actual: Any) -> bool:
    """Equality, except that a wanted mapping matches a mapping holding (at least) its keys with equal values."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _value_matches(value, actual[key]) for key, value in wanted.items())
    return bool(wanted == actual)


def describe_changes(kind: str, elements: Sequence[Mapping[str, Any]], notification: Mapping[str, Any]) -> str:
    """One line per change, for people: ``organization.primaryName: "ACME" -> "ACME GROUP"``."""
    if kind == "TRANSFER":
        organization = notification.get("organization") or {}
        transfers = ((organization.get("dunsControlStatus") or {}).get("dunsTransfers") or []
                     if isinstance(organization, Mapping) else [])
        retained = [t.get("retainedDUNS") for t in transfers if isinstance(t, Mapping) and t.get("retainedDUNS")]
        if retained:
            return "replaced by DUNS " + ", ".join(str(r) for r in retained)
    lines = [f"{e.get('element')}: {_short(e.get('previous'))} -> {_short(e.get('current'))}"
             for e in elements[:_SHOWN_CHANGES]]
    if len(elements) > _SHOWN_CHANGES:
        lines.append(f"... and {len(elements) - _SHOWN_CHANGES} more")
    return "\n".join(lines) or kind


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _VALUE_CHARACTERS else text[:_VALUE_CHARACTERS - 1] + "…"


class LandingFreshnessSource:
    """Registrations with no successful pull for longer than ``max_age`` (never pulled successfully, but failing:
    stale too)."""

    name = "landing_freshness"

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected:
        result = Collected()
        due = [rule for rule in rules if isinstance(rule, LandingFreshnessRule)
               and context.polled_due(rule, rule.evaluate_every)]
        if not due:
            return result
        rows = context.connection.execute(select(dnb_registration_status)).all()
        for rule in due:
            result.complete.add(rule.name)
            for row in rows:
                labels = {"reference": row.reference}
                if not selected(rule, labels):
                    continue
                if row.last_success_at is not None:
                    age = (context.now - row.last_success_at).total_seconds()
                    active = age > rule.max_age
                else:
                    age = (context.now - row.last_attempt_at).total_seconds() if row.last_attempt_at else 0.0
                    active = bool(row.last_error)
                details = {"last_success_at": row.last_success_at.isoformat(timespec="seconds")
                           if row.last_success_at else "", "last_error": row.last_error or "",
                           "max_age": rule.max_age, "age": age}
                result.observations.append(Observation(rule.name, labels, active, context.now, value=age,
                                                       details=details))
        return result


def landed_since(context: SourceContext, window: timedelta) -> Any:
    """Rows landed (by delivery time) within ``window`` before now: the index on delivery day keeps it cheap."""
    landed = dnb_landed_notifications.c
    start = context.now - window
    return (landed.delivery_day >= start.date()) & (landed.delivery_ts >= start)
