"""The route tree with Alertmanager's semantics.

An alert enters at the root (which takes everything) and walks down: children are tried in order, the first one
whose matchers all hold takes the alert, and the walk stops there unless that child has ``continue: true``. An alert
that no child takes stays with the route itself. Children inherit what they do not set (receiver, group_by, the
three intervals, time intervals and escalation). Within a route, alerts with the same values of the ``group_by``
labels form one group (``[...]``: every label, one alert per group; none: one group for the route).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitoring_pipeline.alerting.config import EVERYTHING, NO_ESCALATION, AlertingConfig, RouteConfig
from monitoring_pipeline.alerting.matchers import Matcher, matches_all

# Alertmanager's defaults.
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True)
class Route:
    key: str  # stable while the tree keeps its shape: the chain of positions and matchers from the root
    receivers: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation: str | None = None  # a policy; None: the policy for the group's severity; NO_ESCALATION: none
    children: tuple[Route, ...] = field(default=())

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by_all:
            return dict(sorted(labels.items()))
        return {name: labels[name] for name in self.group_by if name in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """Stable per alert group: the route and the group's label values."""
        text = self.key + "\x00" + "\x00".join(f"{k}={v}" for k, v in sorted(self.group_labels(labels).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def compile_routes(config: AlertingConfig) -> Route:
    return _compile(config.route, None, "root")


def _compile(route: RouteConfig, parent: Route | None, key: str) -> Route:
    group_by = route.group_by if route.group_by is not None else (parent.group_by if parent else ())
    group_by_all = (EVERYTHING in route.group_by) if route.group_by is not None else bool(
        parent and parent.group_by_all)
    receiver = route.receiver if route.receiver is not None else None
    receivers = (receiver,) if receiver else (parent.receivers if parent else ())
    compiled = Route(
        key=key,
        receivers=receivers,
        matchers=tuple(route.matchers),
        continue_=route.continue_,
        group_by=() if group_by_all else tuple(group_by),
        group_by_all=group_by_all,
        group_wait=_pick(route.group_wait, parent.group_wait if parent else DEFAULT_GROUP_WAIT),
        group_interval=_pick(route.group_interval, parent.group_interval if parent else DEFAULT_GROUP_INTERVAL),
        repeat_interval=_pick(route.repeat_interval, parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL),
        mute_time_intervals=route.mute_time_intervals or (parent.mute_time_intervals if parent else ()),
        active_time_intervals=route.active_time_intervals or (parent.active_time_intervals if parent else ()),
        escalation=route.escalation if route.escalation is not None else (parent.escalation if parent else None),
    )
    children = tuple(
        _compile(child, compiled, f"{key}/{index}{{{','.join(str(m) for m in child.matchers)}}}")
        for index, child in enumerate(route.routes)
    )
    return Route(**{**compiled.__dict__, "children": children})


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


def match_routes(root: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes that take an alert with ``labels``, in tree order."""
    return _match(root, labels)


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.children:
        matched = _match(child, labels)
        found.extend(matched)
        if matched and not child.continue_:
            break
    return found or [route]


def find_route(root: Route, key: str) -> Route | None:
    if root.key == key:
        return root
    for child in root.children:
        found = find_route(child, key)
        if found is not None:
            return found
    return None


def escalation_policy_name(route: Route, config: AlertingConfig, severity: str) -> str | None:
    """The policy a group of ``route`` escalates by, given the severity of its most severe alert."""
    if route.escalation == NO_ESCALATION:
        return None
    if route.escalation is not None:
        return route.escalation
    policy = config.policy_for_severity(severity)
    return policy.name if policy else None


def receiver_health_route(root: Route, config: AlertingConfig, broken: str) -> Route:
    """Where "receiver X is failing" goes: every other receiver, never X (it would not arrive), with the root's
    intervals, at once and without escalation."""
    others = tuple(name for name in config.receivers if name != broken)
    return Route(key=f"receiver_health/{broken}", receivers=others, group_by_all=True, group_wait=0.0,
                 group_interval=root.group_interval, repeat_interval=root.repeat_interval, escalation=NO_ESCALATION)
