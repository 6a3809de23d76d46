"""Incidents providers declare (through inbound webhooks), stored in ``provider_incidents``.

One row per provider incident (or status page component) and integration it is mapped to. An update is applied
only when it is at least as new as what is stored, so updates delivered out of order leave the newest. The
status page and the API show the active rows; the alert engine reads ``active_incidents`` (or the table: ``active``
true, ``impact`` none/minor/major/critical/maintenance, ``integration``) to raise and resolve alerts from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from monitoring_pipeline.storage.schema import provider_incidents

IMPACTS = ("none", "minor", "major", "critical", "maintenance")


@dataclass(frozen=True)
class IncidentUpdate:
    """What one webhook says about one incident or component, already mapped to an integration."""

    source: str
    kind: str  # incident | component
    external_id: str
    integration: str
    title: str
    status: str
    impact: str
    active: bool
    started_at: datetime
    updated_at: datetime
    url: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProviderIncident:
    id: int
    source: str
    kind: str
    external_id: str
    integration: str
    title: str
    status: str
    impact: str
    active: bool
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    url: str | None
    detail: str | None


def apply_updates(connection: Connection, updates: Sequence[IncidentUpdate], received_at: datetime) -> int:
    """Insert or advance each incident row in the caller's transaction; returns rows changed (older updates: 0)."""
    t = provider_incidents.c
    changed = 0
    for item in updates:
        identity = (t.source == item.source, t.kind == item.kind, t.external_id == item.external_id,
                    t.integration == item.integration)
        stored = connection.execute(select(t.id, t.updated_at, t.active).where(*identity)).first()
        values = {"title": item.title[:2000], "status": item.status[:32], "impact": item.impact,
                  "active": item.active, "updated_at": item.updated_at,
                  "resolved_at": None if item.active else item.updated_at, "url": item.url,
                  "detail": (item.detail or None) and item.detail[:4000], "received_at": received_at}
        if stored is None:
            connection.execute(insert(provider_incidents).values(
                source=item.source, kind=item.kind, external_id=item.external_id[:128], integration=item.integration,
                started_at=item.started_at, **values))
            changed += 1
        elif item.updated_at >= stored.updated_at:
            if item.active and not stored.active:
                values["started_at"] = item.started_at  # a component failing again: a new episode
            connection.execute(update(provider_incidents).where(t.id == stored.id).values(**values))
            changed += 1
    return changed


def _incident(row) -> ProviderIncident:  # type: ignore[no-untyped-def]
    return ProviderIncident(row.id, row.source, row.kind, row.external_id, row.integration, row.title, row.status,
                            row.impact, bool(row.active), row.started_at, row.updated_at, row.resolved_at, row.url,
                            row.detail)


def active_incidents(engine: Engine, integration: str | None = None) -> list[ProviderIncident]:
    """Incidents providers still declare, newest first."""
    t = provider_incidents.c
    query = select(provider_incidents).where(t.active.is_(True)).order_by(t.started_at.desc(), t.id.desc())
    if integration is not None:
        query = query.where(t.integration == integration)
    with engine.connect() as connection:
        return [_incident(row) for row in connection.execute(query)]


def incidents_between(engine: Engine, start: datetime, end: datetime, integration: str | None = None,
                      limit: int = 200) -> list[ProviderIncident]:
    """Incidents that began before ``end`` and were active at some point after ``start``, newest first."""
    t = provider_incidents.c
    query = (select(provider_incidents).where(t.started_at < end)
             .where(t.active.is_(True) | (t.resolved_at >= start)).order_by(t.started_at.desc()).limit(limit))
    if integration is not None:
        query = query.where(t.integration == integration)
    with engine.connect() as connection:
        return [_incident(row) for row in connection.execute(query)]
