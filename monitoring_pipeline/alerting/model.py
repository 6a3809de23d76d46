"""What the alert engine hands to delivery: alerts as they were when a notification was decided, and the
notification itself (one message, to one receiver, about one alert group). Serialised into the outbox as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")  # most urgent first

AlertState = Literal["pending", "firing", "acknowledged", "resolved"]
ALERT_STATES: tuple[AlertState, ...] = ("pending", "firing", "acknowledged", "resolved")

# trigger: the group's first notice to a receiver (or new alerts joined it); reminder: repeat_interval passed;
# escalation: a level of the escalation policy was reached; acknowledgement / resolution: what they say;
# test: `monitoring-pipeline alerts test RECEIVER`.
NotificationKind = Literal["trigger", "reminder", "escalation", "acknowledgement", "resolution", "test"]
NOTIFICATION_KINDS: tuple[NotificationKind, ...] = (
    "trigger", "reminder", "escalation", "acknowledgement", "resolution", "test",
)


@dataclass(frozen=True)
class Alert:
    """One alert as a receiver sees it."""

    id: int
    fingerprint: str  # stable: rule + labels
    rule: str
    state: AlertState
    severity: Severity
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # summary, description, runbook_url, ... (rendered)
    starts_at: datetime
    ends_at: datetime | None = None
    source: str = ""  # integration_state, asset_check, dagster_run, dnb_event, threshold, anomaly, ...
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledgement_comment: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)  # e.g. {"alert": url, "acknowledge": signed url}

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.rule


@dataclass(frozen=True)
class Notification:
    """One message to one receiver about one alert group, decided by the engine and delivered at least once."""

    idempotency_key: str  # unique per (alert group, transition, receiver): a retry after a crash repeats only it
    kind: NotificationKind
    receiver: str
    group_key: str  # stable per alert group (route + group_by values): PagerDuty's dedup_key, e-mail threading
    group_labels: Mapping[str, str]
    alerts: tuple[Alert, ...]  # the group's alerts at decision time (firing, acknowledged and just-resolved)
    created_at: datetime
    escalation_level: int = 0
    route: str = ""  # the route that matched, for the delivery log and the UI

    @property
    def severity(self) -> Severity:
        """The most urgent severity among the alerts (info for an empty group)."""
        present = {alert.severity for alert in self.alerts}
        return next((s for s in SEVERITIES if s in present), "info")

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state in ("firing", "acknowledged", "pending"))

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state == "resolved")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_encode, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Notification:
        data = json.loads(text)
        alerts = tuple(Alert(**{**a, "starts_at": _dt(a["starts_at"]), "ends_at": _dt(a.get("ends_at")),
                                "acknowledged_at": _dt(a.get("acknowledged_at"))}) for a in data.pop("alerts"))
        return cls(**{**data, "alerts": alerts, "created_at": _dt(data["created_at"])})


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dt(value: str | None) -> datetime | None:  # type: ignore[return]
    return datetime.fromisoformat(value) if value else None


def alert_log_fields(rule: str, labels: Mapping[str, str]) -> dict[str, str | None]:
    """The structured-log context of an alert (``logs.log_context``): its rule, and the integration, registration
    and DUNS it is about when its labels say."""
    return {"alert": rule, "integration": labels.get("integration"), "registration": labels.get("reference"),
            "duns": labels.get("duns")}
