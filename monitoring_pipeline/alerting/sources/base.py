"""What every source shares: observations, the context a source reads from, and its result."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from monitoring_pipeline.alerting.config import RuleConfig
from monitoring_pipeline.alerting.matchers import matches_all
from monitoring_pipeline.alerting.sources.records import DagsterInputs
from monitoring_pipeline.integrations.maintenance import MaintenanceWindow


@dataclass(frozen=True)
class Observation:
    """The source's verdict for one label set of one rule at ``at``: the condition holds (``active``) or not.

    Event rules only get active observations: each is one event.
    """

    rule: str
    labels: Mapping[str, str]
    active: bool
    at: datetime
    value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the rule's (asset checks map WARN/ERROR)
    identity: str = ""  # more identity than the labels hold (one alert per D&B notification)
    volatile: tuple[str, ...] = ()  # labels that are not identity (a company's alert takes each event's type)


@dataclass(frozen=True)
class IntegrationInfo:
    """What the alert engine knows of one configured integration."""

    category: str = ""
    group: str = ""
    sla: float = 99.9
    depends_on: tuple[str, ...] = ()
    windows: tuple[MaintenanceWindow, ...] = ()
    type: str = "http"

    @property
    def measures_latency(self) -> bool:
        """Whether its probes' latency is a response time: a push heartbeat's is the duration of the job that
        pinged (judged by the integration's own `latency` conditions), never an API being slow."""
        return self.type != "push"


@dataclass
class SourceContext:
    connection: Connection
    now: datetime
    cursors: dict[str, Any]  # persisted with the evaluation's transitions
    integrations: Mapping[str, IntegrationInfo]
    portfolios: Mapping[str, frozenset[str]]
    inputs: DagsterInputs
    deadline: float  # time.monotonic() after which sources stop reading more
    dnb_rate_limit_per_second: float = 5.0
    dnb_batch: int = 5000

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def polled_due(self, rule: RuleConfig, every: float) -> bool:
        """Whether a polled rule is due, and if so mark it evaluated now."""
        last = self.cursors.setdefault("polled", {}).get(rule.name)
        if last is not None and datetime.fromisoformat(last) + timedelta(seconds=every) > self.now:
            return False
        self.cursors["polled"][rule.name] = self.now.isoformat()
        return True

    def integration_labels(self, name: str) -> dict[str, str]:
        info = self.integrations.get(name, IntegrationInfo())
        return {"integration": name, "category": info.category, "group": info.group}


@dataclass
class Collected:
    observations: list[Observation] = field(default_factory=list)
    # Rules whose observations this time cover every label set: an open alert not observed no longer holds.
    complete: set[str] = field(default_factory=set)
    behind: bool = False  # more was waiting than fitted in this evaluation

    def extend(self, other: Collected) -> None:
        self.observations.extend(other.observations)
        self.complete |= other.complete
        self.behind = self.behind or other.behind


class Source(Protocol):
    name: str

    def collect(self, context: SourceContext, rules: Sequence[RuleConfig]) -> Collected: ...


def selected(rule: RuleConfig, labels: Mapping[str, str]) -> bool:
    return matches_all(rule.matchers, labels)
