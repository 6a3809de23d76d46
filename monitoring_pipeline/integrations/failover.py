"""Failover: per group, which provider applications should use now, and every switch as an event.

The pipeline decides; applications route (they read the routing table or the routing JSON file).

A member is *routable* when its state is UP, DEGRADED, PENDING or UNKNOWN and its circuit breaker is closed.
The active provider is the best routable member by role (primary before secondary), then health (UP, UNKNOWN,
DEGRADED, PENDING), then weight (higher first), then name. It is sticky: the current provider stays while it is
routable and no member of a better role is, so two equal primaries don't trade places on a latency blip.
``weights`` spreads traffic over the routable members of the active provider's role, in proportion to weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitoring_pipeline.circuit_breaker import CLOSED
from monitoring_pipeline.integrations.state import (
    STATE_DEGRADED,
    STATE_PENDING,
    STATE_UNKNOWN,
    STATE_UP,
    is_routable,
)

ROLE_RANK = {"primary": 0, "secondary": 1}
_HEALTH_RANK = {STATE_UP: 0, STATE_UNKNOWN: 1, STATE_DEGRADED: 2, STATE_PENDING: 3}


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    weight: float
    state: str
    breaker: str

    @property
    def routable(self) -> bool:
        return is_routable(self.state) and self.breaker == CLOSED

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "weight": self.weight, "state": self.state,
                "breaker": self.breaker, "routable": self.routable}


@dataclass(frozen=True)
class RoutingDecision:
    group: str
    active: str | None
    weights: dict[str, float]
    reason: str
    members: tuple[Member, ...]

    def as_json(self) -> dict[str, object]:
        return {"active": self.active, "weights": self.weights, "reason": self.reason,
                "members": [member.as_json() for member in self.members]}


@dataclass(frozen=True)
class FailoverEvent:
    group: str
    at: datetime
    from_provider: str | None
    to_provider: str | None
    reason: str


def _rank(member: Member) -> tuple[int, int, float, str]:
    return (ROLE_RANK[member.role], _HEALTH_RANK.get(member.state, 9), -member.weight, member.name)


def decide(group: str, members: Sequence[Member], previous_active: str | None) -> RoutingDecision:
    """The routing decision for ``group`` given its members' health and the provider active until now."""
    ordered = sorted(members, key=_rank)
    routable = [member for member in ordered if member.routable]
    if not routable:
        return RoutingDecision(group, None, {}, "no routable provider: " + _states(ordered), tuple(ordered))
    best = routable[0]
    current = next((member for member in routable if member.name == previous_active), None)
    if current is not None and ROLE_RANK[current.role] <= ROLE_RANK[best.role]:
        active, reason = current, f"{current.name} ({current.role}) is {current.state}"
    elif previous_active is None:
        active, reason = best, f"{best.name} is the best routable {best.role}"
    else:
        gone = next((member for member in ordered if member.name == previous_active), None)
        if gone is not None and gone.routable:
            reason = f"{best.name} ({best.role}) is routable again"
        elif gone is not None:
            reason = f"{gone.name} is {gone.state} with breaker {gone.breaker}"
        else:
            reason = f"{previous_active} left the group"
        active = best
    peers = [member for member in routable if member.role == active.role]
    total = sum(member.weight for member in peers)
    weights = {member.name: round(member.weight / total, 4) for member in peers}
    return RoutingDecision(group, active.name, weights, reason, tuple(ordered))


def switch_event(previous_active: str | None, decision: RoutingDecision, at: datetime,
                 first_decision: bool) -> FailoverEvent | None:
    """The failover event when the active provider changed (not for a group's very first decision)."""
    if first_decision or previous_active == decision.active:
        return None
    return FailoverEvent(decision.group, at, previous_active, decision.active, decision.reason)


def _states(members: Sequence[Member]) -> str:
    return ", ".join(f"{m.name} {m.state}/{m.breaker}" for m in members)
