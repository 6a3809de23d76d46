"""What every channel says about a notification, in one place: the headline, the alerts in the order a reader
needs them, one alert's facts and links, and truncation that keeps the important part first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from monitoring_pipeline.alerting.model import SEVERITIES, Alert, Notification

ELLIPSIS = "…"
# Labels every alert carries that a reader does not need repeated next to each alert.
_QUIET_LABELS = frozenset({"alertname", "severity"})
LINK_TITLES = {"alert": "View alert", "acknowledge": "Acknowledge", "runbook": "Runbook"}
KIND_NOTES = {
    "trigger": "",
    "reminder": "still firing: ",
    "escalation": "escalated{level}: ",
    "acknowledgement": "",
    "resolution": "",
    "test": "",
}


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def ordered_alerts(notification: Notification) -> list[Alert]:
    """Firing alerts first, most severe first, then acknowledged, then resolved; ties by start time."""
    state_rank = {"firing": 0, "pending": 1, "acknowledged": 2, "resolved": 3}
    return sorted(notification.alerts, key=lambda a: (state_rank.get(a.state, 4), SEVERITIES.index(a.severity)
                                                      if a.severity in SEVERITIES else 9, a.starts_at, a.id))


def status_of(notification: Notification) -> str:
    """FIRING, ACKNOWLEDGED, RESOLVED or TEST: what the notification tells the reader."""
    if notification.kind == "test":
        return "TEST"
    if notification.kind == "resolution" or not notification.firing:
        return "RESOLVED"
    if notification.kind == "acknowledgement" or all(a.state == "acknowledged" for a in notification.firing):
        return "ACKNOWLEDGED"
    return "FIRING"


@dataclass(frozen=True)
class Digest:
    """The parts of a message every channel assembles in its own format."""

    status: str  # FIRING | ACKNOWLEDGED | RESOLVED | TEST
    severity: str
    headline: str  # one line: status, count, severity, the first alert's summary
    title: str  # the first alert's summary (+N more)
    alerts: tuple[Alert, ...]  # ordered_alerts
    count: int  # alerts the status speaks of (firing ones, or resolved ones for a resolution)
    note: str  # "still firing", "escalated (level 2)", "by alice: looking", ...


def digest(notification: Notification) -> Digest:
    alerts = tuple(ordered_alerts(notification))
    status = status_of(notification)
    if status == "TEST":
        title = f"Test notification for receiver {notification.receiver}"
        return Digest(status, "info", f"[TEST] {title}", title, alerts, len(alerts), "")
    relevant = [a for a in alerts if a.state == "resolved"] if status == "RESOLVED" else \
        [a for a in alerts if a.state != "resolved"]
    relevant = relevant or list(alerts)
    count = len(relevant)
    first = relevant[0].summary if relevant else notification.group_labels.get("alertname", "alert group")
    title = first + (f" (+{count - 1} more)" if count > 1 else "")
    severity = notification.severity
    counted = f"{status}:{count}" if count > 1 else status
    note = KIND_NOTES.get(notification.kind, "")
    if notification.kind == "escalation":
        # The policy's first level is the first page its receivers get, not a hand-over: nothing to say about it.
        level = notification.escalation_level
        note = note.format(level=f" (level {level})") if level != 1 else ""
    if status == "ACKNOWLEDGED":
        who = next((a.acknowledged_by for a in alerts if a.acknowledged_by), None)
        note = f"by {who}: " if who else ""
        headline = f"[{counted}] {note}{title}"
    elif status == "RESOLVED":
        headline = f"[{counted}] {title}"
    else:
        headline = f"[{counted}] {severity.upper()}: {note}{title}"
    return Digest(status, severity, headline, title, alerts, count, note.rstrip(": "))


def shown_labels(alert: Alert) -> dict[str, str]:
    """The labels worth showing beside an alert (not alertname and severity, which the message says already)."""
    return {k: v for k, v in sorted(alert.labels.items()) if k not in _QUIET_LABELS}


def labels_text(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (labels or {}).items())


def when(moment: datetime | None) -> str:
    """A moment as a reader wants it: 2026-12-04 09:30 UTC."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def state_line(alert: Alert) -> str:
    """The alert's state in words: "firing since …", "acknowledged by alice (…)", "resolved at …"."""
    if alert.state == "resolved":
        return f"resolved at {when(alert.ends_at)}" if alert.ends_at else "resolved"
    if alert.state == "acknowledged":
        by = f" by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        comment = f": {alert.acknowledgement_comment}" if alert.acknowledgement_comment else ""
        return f"acknowledged{by}{comment} (firing since {when(alert.starts_at)})"
    return f"{alert.state} since {when(alert.starts_at)}"


def alert_links(alert: Alert) -> list[tuple[str, str]]:
    """(title, url) of the alert's links: its page, its one-click acknowledgement while it fires, its runbook."""
    links = []
    if alert.links.get("alert"):
        links.append((LINK_TITLES["alert"], alert.links["alert"]))
    if alert.links.get("acknowledge") and alert.state in ("firing", "pending"):
        links.append((LINK_TITLES["acknowledge"], alert.links["acknowledge"]))
    runbook = alert.annotations.get("runbook_url")
    if runbook:
        links.append((LINK_TITLES["runbook"], runbook))
    return links


def description(alert: Alert) -> str:
    return alert.annotations.get("description", "")


def footer(notification: Notification) -> str:
    """Where the message comes from: receiver, route and the moment it was decided."""
    parts = [f"receiver {notification.receiver}"]
    if notification.route:
        parts.append(f"route {notification.route}")
    parts.append(f"decided {when(notification.created_at)}")
    return "monitoring-pipeline · " + " · ".join(parts)


def plain_text(notification: Notification) -> str:
    """The whole notification as plain text (e-mail's text part, the webhook's fallback)."""
    summary = digest(notification)
    lines = [summary.headline, ""]
    for alert in summary.alerts:
        lines.append(f"* {alert.summary} [{alert.severity}] {state_line(alert)}")
        if description(alert):
            lines.append(f"  {description(alert)}")
        labels = labels_text(shown_labels(alert))
        if labels:
            lines.append(f"  labels: {labels}")
        for title, url in alert_links(alert):
            lines.append(f"  {title}: {url}")
        lines.append("")
    lines.append(footer(notification))
    return "\n".join(lines) + "\n"
