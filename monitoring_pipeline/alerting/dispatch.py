"""From firing alerts to decided notifications: groups, their flushes, escalation and acknowledgement notices.

Alertmanager's grouping: a firing alert joins one group per route that takes it. A new group waits
``group_wait`` (to gather what fires together), then flushes every ``group_interval``. At a flush each of the
route's receivers is told when (its notification log, per group, says what it was told last):

- it was told nothing yet and something fires: **trigger**;
- alerts fire that it was not told about, or some it was told about resolved while others still fire: **trigger**
  (with the resolved ones in the notification);
- everything it was told about resolved: **resolution** (every receiver that was told, escalated ones too);
- nothing changed, some alert is not acknowledged and ``repeat_interval`` passed: **reminder**.

Muted alerts (silenced, inhibited) are left out, so an alert whose silence ends while it fires is news at the next
flush. While a route's ``mute_time_intervals`` hold (or its ``active_time_intervals`` do not), a flush sends nothing
and remembers nothing, so the first flush after it sends what is due.

Escalation: a group whose route (or severity) has a policy escalates while it has firing alerts nobody
acknowledged: each level's receivers are told ``after`` the group's first notification, the sequence repeating
``repeat`` times. Acknowledging every firing alert stops it, and stops reminders; a lapsed acknowledgement re-arms
both. Acknowledgements are told at once to every receiver that was told.

Each decision takes the group's next sequence number; a notification's idempotency key is the group key, that number,
the kind and the receiver, so an evaluation redone after a crash decides the same keys and the outbox refuses the
duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from monitoring_pipeline.alerting import store
from monitoring_pipeline.alerting.config import AlertingConfig, severity_rank
from monitoring_pipeline.alerting.model import Notification
from monitoring_pipeline.alerting.outbox import enqueue
from monitoring_pipeline.alerting.routing import (
    Route,
    compile_routes,
    escalation_policy_name,
    find_route,
    match_routes,
    receiver_health_route,
)
from monitoring_pipeline.alerting.store import ACKNOWLEDGED, FIRING, RESOLVED, AlertRow, GroupRow
from monitoring_pipeline.alerting.timeintervals import any_contains

ACTIVE, IDLE = "active", "idle"
NO_ESCALATION_STATE, RUNNING, STOPPED_BY_ACK, COMPLETED = "none", "running", "acknowledged", "completed"
RECEIVER_HEALTH_SOURCE = "receiver_health"
RECEIVER_HEALTH_ROUTE = "receiver_health/"
LinkBuilder = Callable[[AlertRow], Mapping[str, str]]


@dataclass
class Dispatch:
    """What dispatching decided in one transaction."""

    notifications: list[Notification] = field(default_factory=list)
    enqueued: int = 0
    events: list[store.HistoryEvent] = field(default_factory=list)


class Dispatcher:
    def __init__(self, config: AlertingConfig, links: LinkBuilder | None = None) -> None:
        self.config = config
        self.root = compile_routes(config)
        self.links = links

    # -- routing -----------------------------------------------------------------------------------------------

    def routes_for(self, row: AlertRow) -> list[Route]:
        if row.source == RECEIVER_HEALTH_SOURCE:
            return [receiver_health_route(self.root, self.config, row.labels.get("receiver", ""))]
        return match_routes(self.root, row.labels)

    def route_by_key(self, key: str) -> Route:
        if key.startswith(RECEIVER_HEALTH_ROUTE):
            return receiver_health_route(self.root, self.config, key[len(RECEIVER_HEALTH_ROUTE):])
        return find_route(self.root, key) or self.root

    def join_groups(self, connection: Connection, fired: Sequence[AlertRow], now: datetime) -> int:
        """Put newly firing alerts in their groups; a group that was idle starts its ``group_wait``."""
        wanted: dict[str, tuple[Route, dict[str, str]]] = {}
        pairs = []
        for row in fired:
            for route in self.routes_for(row):
                if not route.receivers:
                    continue
                key = route.group_key(row.labels)
                wanted.setdefault(key, (route, route.group_labels(row.labels)))
                pairs.append((key, row.id))
        if not pairs:
            return 0
        groups = store.groups_by_key(connection, wanted)
        changed = []
        for key, (route, labels) in wanted.items():
            group = groups.get(key)
            if group is None:
                group = GroupRow(group_key=key, route=route.key, receiver=route.receivers[0], group_labels=labels,
                                 state=IDLE, sequence=0, next_flush_at=None, notified={}, told=[], rearm=False,
                                 escalation_policy=None, escalation_state=NO_ESCALATION_STATE, escalation_level=0,
                                 escalation_cycle=0, escalation_started_at=None, next_escalation_at=None,
                                 created_at=now, updated_at=now)
            if group.state == IDLE:
                group.state = ACTIVE
                group.route = route.key
                group.next_flush_at = now + timedelta(seconds=route.group_wait)
                group.updated_at = now
                changed.append(group)
        store.save_groups(connection, changed)
        store.add_members(connection, pairs)
        return len(pairs)

    # -- flushes and escalation ------------------------------------------------------------------------------------

    def run_due(self, connection: Connection, now: datetime, cache: dict[int, AlertRow]) -> Dispatch:
        """Flush every group whose time came, then escalate every group whose next level is due."""
        result = Dispatch()
        groups = store.due_groups(connection, now)
        if not groups:
            return result
        membership = store.members(connection, [g.group_key for g in groups])
        missing = {i for ids in membership.values() for i in ids if i not in cache}
        cache.update(store.alerts_by_id(connection, missing))
        for group in groups:
            rows = [cache[i] for i in membership.get(group.group_key, []) if i in cache]
            route = self.route_by_key(group.route)
            if group.next_flush_at is not None and group.next_flush_at <= now:
                self._flush(connection, group, route, rows, now, result)
            if group.state == ACTIVE and group.next_escalation_at is not None and group.next_escalation_at <= now:
                self._escalate(connection, group, route, rows, now, result)
            group.updated_at = now
        store.save_groups(connection, groups)
        return result

    def _flush(self, connection: Connection, group: GroupRow, route: Route, rows: list[AlertRow], now: datetime,
               result: Dispatch) -> None:
        firing = [row for row in rows if row.is_firing and not row.muted]
        resolved = [row for row in rows if row.state == RESOLVED]
        group.next_flush_at = now + timedelta(seconds=route.group_interval)
        if self._muted_by_time(route, now):
            return
        firing_ids = {row.id for row in firing}
        resolved_ids = {row.id for row in resolved}
        if not firing_ids and any(row.is_firing for row in rows):
            # Everything still firing is muted: say nothing, and forget it was told, so that the end of the
            # silence is news at the next flush.
            for entry in group.notified.values():
                entry["firing"] = []
            store.remove_members(connection, group.group_key, resolved_ids)
            return
        unacknowledged = any(row.state == FIRING for row in firing)
        told_before = {i for entry in group.notified.values() for i in entry.get("firing", ())}
        decisions: list[tuple[str, str]] = []
        for receiver in route.receivers:
            entry = group.notified.get(receiver)
            kind = needs_update(entry, firing_ids, resolved_ids, route.repeat_interval, now, unacknowledged,
                                group.rearm)
            if kind is None:
                continue
            decisions.append((receiver, kind))
            told_resolved = sorted(resolved_ids & set(entry["firing"])) if entry else []
            group.notified[receiver] = {"firing": sorted(firing_ids), "resolved": told_resolved,
                                        "at": now.isoformat()}
        if not firing_ids:
            decisions += [(receiver, "resolution") for receiver in group.told if receiver not in route.receivers]
        group.rearm = False
        shown = firing + [row for row in resolved if row.id in told_before]
        if decisions:
            self._decide(connection, group, route.key, shown or rows, decisions, now, result)
            group.told = sorted(set(group.told) | {r for r, kind in decisions if kind != "resolution"})
        if not firing_ids:
            self._go_idle(connection, group, rows)
            return
        store.remove_members(connection, group.group_key, resolved_ids)
        if unacknowledged and group.escalation_state in (NO_ESCALATION_STATE, STOPPED_BY_ACK) and group.told:
            self._start_escalation(group, route, firing, now)

    def _go_idle(self, connection: Connection, group: GroupRow, rows: Iterable[AlertRow]) -> None:
        store.remove_members(connection, group.group_key, [row.id for row in rows if not row.is_open])
        if any(row.is_open for row in rows):  # firing but muted: stays active, quietly
            return
        group.state = IDLE
        group.next_flush_at = None
        group.notified = {}
        group.told = []
        self._stop_escalation(group, NO_ESCALATION_STATE)

    def _start_escalation(self, group: GroupRow, route: Route, firing: Sequence[AlertRow], now: datetime) -> None:
        worst = min((row.severity for row in firing), key=severity_rank)
        name = escalation_policy_name(route, self.config, worst)
        policy = self.config.escalation_policies.get(name) if name else None
        if policy is None:
            return
        group.escalation_policy = policy.name
        group.escalation_state = RUNNING
        group.escalation_level = 0
        group.escalation_cycle = 0
        group.escalation_started_at = now
        group.next_escalation_at = now + timedelta(seconds=policy.levels[0].after)

    def _stop_escalation(self, group: GroupRow, state: str) -> None:
        group.escalation_state = state
        group.next_escalation_at = None
        if state == NO_ESCALATION_STATE:
            group.escalation_policy = None
            group.escalation_level = 0
            group.escalation_cycle = 0
            group.escalation_started_at = None

    def _escalate(self, connection: Connection, group: GroupRow, route: Route, rows: list[AlertRow], now: datetime,
                  result: Dispatch) -> None:
        policy = self.config.escalation_policies.get(group.escalation_policy or "")
        if policy is None or group.escalation_state != RUNNING:
            self._stop_escalation(group, NO_ESCALATION_STATE)
            return
        firing = [row for row in rows if row.is_firing and not row.muted]
        while group.next_escalation_at is not None and group.next_escalation_at <= now:
            if not any(row.state == FIRING for row in firing):
                self._stop_escalation(group, STOPPED_BY_ACK if firing else NO_ESCALATION_STATE)
                return
            level = policy.levels[group.escalation_level]
            number = group.escalation_level + 1
            self._decide(connection, group, route.key, firing, [(r, "escalation") for r in level.receivers], now,
                         result, escalation_level=number)
            group.told = sorted(set(group.told) | set(level.receivers))
            group.escalation_level += 1
            assert group.escalation_started_at is not None
            if group.escalation_level < len(policy.levels):
                group.next_escalation_at = group.escalation_started_at + timedelta(
                    seconds=policy.levels[group.escalation_level].after)
            elif group.escalation_cycle < policy.repeat:
                group.escalation_cycle += 1
                group.escalation_level = 0
                group.escalation_started_at = now + timedelta(seconds=policy.repeat_after)
                group.next_escalation_at = group.escalation_started_at + timedelta(seconds=policy.levels[0].after)
            else:
                self._stop_escalation(group, COMPLETED)

    def _muted_by_time(self, route: Route, now: datetime) -> bool:
        intervals = self.config.time_intervals
        if any(any_contains(intervals.get(name, ()), now) for name in route.mute_time_intervals):
            return True
        return bool(route.active_time_intervals) and not any(
            any_contains(intervals.get(name, ()), now) for name in route.active_time_intervals)

    def _decide(self, connection: Connection, group: GroupRow, route_key: str, rows: Sequence[AlertRow],
                decisions: Sequence[tuple[str, str]], now: datetime, result: Dispatch,
                escalation_level: int = 0) -> None:
        group.sequence += 1
        alerts = tuple(row.as_alert(self.links(row) if self.links else None) for row in rows)
        by_kind: dict[str, list[str]] = {}
        for receiver, kind in decisions:
            notification = Notification(
                idempotency_key=f"{group.group_key}:{group.sequence}:{kind}:{receiver}", kind=kind,  # type: ignore[arg-type]
                receiver=receiver, group_key=group.group_key, group_labels=dict(group.group_labels), alerts=alerts,
                created_at=now, escalation_level=escalation_level, route=route_key,
            )
            result.notifications.append(notification)
            result.enqueued += enqueue(connection, notification)
            by_kind.setdefault(kind, []).append(receiver)
        detail = "; ".join(f"{kind}{f' (level {escalation_level})' if escalation_level else ''} to "
                           f"{', '.join(receivers)}" for kind, receivers in by_kind.items())
        event = "escalated" if escalation_level else "notified"
        result.events.extend(store.HistoryEvent(row.id, now, event, detail) for row in rows)

    # -- acknowledgement -----------------------------------------------------------------------------------------

    def acknowledged(self, connection: Connection, row: AlertRow, now: datetime) -> Dispatch:
        """Tell every receiver that was told about ``row``'s groups, and stop their escalation when nothing
        unacknowledged is left firing."""
        result = Dispatch()
        keys = store.groups_of_alerts(connection, [row.id]).get(row.id, [])
        groups = store.groups_by_key(connection, keys)
        membership = store.members(connection, keys)
        others = store.alerts_by_id(connection, {i for ids in membership.values() for i in ids} - {row.id})
        others[row.id] = row
        for group in groups.values():
            rows = [others[i] for i in membership.get(group.group_key, []) if i in others]
            shown = [r for r in rows if (r.is_firing and not r.muted) or r.id == row.id]
            if group.told:
                self._decide(connection, group, group.route, shown,
                             [(receiver, "acknowledgement") for receiver in group.told], now, result)
            if group.escalation_state == RUNNING and not any(r.state == FIRING and not r.muted for r in rows):
                self._stop_escalation(group, STOPPED_BY_ACK)
            group.updated_at = now
        store.save_groups(connection, groups.values())
        return result

    def rearm(self, connection: Connection, rows: Sequence[AlertRow], now: datetime) -> None:
        """Acknowledgements lapsed: remind at once and escalate again from the first level."""
        keys = {key for keys in store.groups_of_alerts(connection, [r.id for r in rows]).values() for key in keys}
        groups = store.groups_by_key(connection, keys)
        for group in groups.values():
            if group.state != ACTIVE:
                continue
            group.rearm = True
            group.next_flush_at = now
            if group.escalation_policy and group.escalation_state in (STOPPED_BY_ACK, COMPLETED, RUNNING):
                policy = self.config.escalation_policies.get(group.escalation_policy)
                if policy is not None:
                    group.escalation_state = RUNNING
                    group.escalation_level = 0
                    group.escalation_cycle = 0
                    group.escalation_started_at = now
                    group.next_escalation_at = now + timedelta(seconds=policy.levels[0].after)
            group.updated_at = now
        store.save_groups(connection, groups.values())

    def wake(self, connection: Connection, rows: Sequence[AlertRow], now: datetime) -> None:
        """Resolved by a person: their groups flush at the next evaluation rather than at their next interval."""
        keys = {key for keys in store.groups_of_alerts(connection, [r.id for r in rows]).values() for key in keys}
        groups = store.groups_by_key(connection, keys)
        for group in groups.values():
            if group.state == ACTIVE:
                group.next_flush_at = min(group.next_flush_at or now, now)
        store.save_groups(connection, groups.values())


def needs_update(entry: Mapping[str, Any] | None, firing: set[int], resolved: set[int], repeat_interval: float,
                 now: datetime, unacknowledged: bool, rearm: bool) -> str | None:
    """The kind of notification a receiver needs, given what it was told last (``entry``); None for nothing."""
    if entry is None:
        return "trigger" if firing else None
    told_firing = set(entry.get("firing", ()))
    if not firing <= told_firing:
        return "trigger"
    if not firing:
        return "resolution" if told_firing else None
    if (resolved & told_firing) - set(entry.get("resolved", ())):
        return "trigger"
    if rearm:
        return "reminder"
    last = datetime.fromisoformat(entry["at"])
    if unacknowledged and last + timedelta(seconds=repeat_interval) <= now:
        return "reminder"
    return None


def receivers_for(dispatcher: Dispatcher, labels: Mapping[str, str], severity: str) -> list[tuple[Route, list[str]]]:
    """Which routes take an alert with ``labels`` and who they tell, escalation levels included (`routes test`)."""
    found = []
    for route in match_routes(dispatcher.root, labels):
        receivers = list(route.receivers)
        name = escalation_policy_name(route, dispatcher.config, severity)
        policy = dispatcher.config.escalation_policies.get(name) if name else None
        for level in policy.levels if policy else ():
            receivers += [r for r in level.receivers if r not in receivers]
        found.append((route, receivers))
    return found


__all__ = ["ACKNOWLEDGED", "Dispatch", "Dispatcher", "needs_update", "receivers_for"]
