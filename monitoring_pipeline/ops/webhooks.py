"""Inbound webhooks (``POST /webhooks/{source}``): providers' status pages (Atlassian Statuspage incident and
component updates) and a generic JSON source, turned into provider-declared incidents.

Every request is answered and recorded in ``ops_webhook_requests`` with the outcome and the reason: unknown
source (404), body too large (413), missing or wrong token or signature (401), a secret not configured (503),
a body that is not JSON (400) or not an update this source sends (422), an update for no mapped integration
(202, ignored), a replay of an update already applied (200, duplicate), applied (200). An update is applied in
one transaction with its identity in ``ops_webhook_applied``: all of it or nothing, and once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from monitoring_pipeline.integrations.config import IntegrationConfig
from monitoring_pipeline.ops.config import HmacAuth, TokenAuth, WebhookSource
from monitoring_pipeline.ops.provider_incidents import IncidentUpdate, apply_updates
from monitoring_pipeline.settings import read_secret
from monitoring_pipeline.storage.schema import ops_webhook_applied, ops_webhook_requests

APPLIED, DUPLICATE, IGNORED, REJECTED = "applied", "duplicate", "ignored", "rejected"
_RESOLVED_INCIDENT = ("resolved", "postmortem", "completed")
_COMPONENT_IMPACT = {"operational": "none", "degraded_performance": "minor", "partial_outage": "major",
                     "major_outage": "critical", "under_maintenance": "maintenance"}
_GENERIC_RESOLVED = ("resolved", "closed", "ok", "operational")


@dataclass(frozen=True)
class WebhookOutcome:
    """The answer to one webhook request (also what is recorded)."""

    http_status: int
    outcome: str
    reason: str
    event_key: str | None = None
    incidents: int = 0

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"outcome": self.outcome, "reason": self.reason}
        if self.outcome in (APPLIED, DUPLICATE):
            answer["incidents_updated"] = self.incidents
        return answer


class WebhookRejected(Exception):
    def __init__(self, http_status: int, reason: str) -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason


def authenticate(source: WebhookSource, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """Raise ``WebhookRejected`` (401, or 503 when the secret is not configured) unless the request proves the
    shared secret. Comparisons are constant-time; no message repeats what was sent or expected."""
    auth = source.auth
    if isinstance(auth, TokenAuth):
        expected = read_secret(auth.token_env)
        if expected is None:
            raise WebhookRejected(503, f"this source's token is not configured ({auth.token_env} is not set)")
        authorization = headers.get("authorization", "")
        offered = (query.get("token") or headers.get(auth.header.lower())
                   or (authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""))
        if not offered:
            raise WebhookRejected(401, f"missing token (send it as ?token=, Authorization: Bearer or {auth.header})")
        if not hmac.compare_digest(offered.encode(), expected.encode()):
            raise WebhookRejected(401, "wrong token")
        return
    assert isinstance(auth, HmacAuth)
    secret = read_secret(auth.secret_env)
    if secret is None:
        raise WebhookRejected(503, f"this source's signing secret is not configured ({auth.secret_env} is not set)")
    signature = headers.get(auth.header.lower(), "").strip()
    if not signature:
        raise WebhookRejected(401, f"missing signature header {auth.header}")
    signature = signature.removeprefix("sha256=")
    computed = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower().encode(), computed.encode()):
        raise WebhookRejected(401, f"wrong signature in {auth.header} (expected the hex HMAC-SHA256 of the body)")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Signature-256`` value a sender puts on ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookRejected(400, f"the body is not JSON ({type(error).__name__}: {error})"[:300]) from None


def _text(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise WebhookRejected(422, f"{where}.{key} is missing")
        return None
    if not isinstance(value, str | int):
        raise WebhookRejected(422, f"{where}.{key}: expected text")
    return str(value)


def _time(data: Mapping[str, Any], key: str, where: str, default: datetime | None = None) -> datetime:
    value = data.get(key)
    if value in (None, ""):
        if default is None:
            raise WebhookRejected(422, f"{where}.{key} is missing")
        return default
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRejected(422, f"{where}.{key}: expected an ISO 8601 date-time") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def mapped_integrations(source_name: str, integrations: Sequence[IntegrationConfig],
                        components: Sequence[tuple[str, str]]) -> list[str]:
    """Integrations whose ``status_page`` names this source and (when they list components) one of ``components``
    ((id, name) pairs; none given: the update concerns the whole page)."""
    found = []
    for integration in integrations:
        link = integration.status_page
        if link is None or link.source != source_name:
            continue
        wanted = set(link.components)
        if not wanted or not components or any(cid in wanted or name in wanted for cid, name in components):
            found.append(integration.name)
    return found


def statuspage_updates(source_name: str, payload: Any, integrations: Sequence[IntegrationConfig],
                       now: datetime) -> tuple[str, list[IncidentUpdate]]:
    """(event key, updates) of an Atlassian Statuspage incident or component webhook."""
    if not isinstance(payload, Mapping):
        raise WebhookRejected(422, "expected a Statuspage webhook object")
    page_url = None
    if isinstance(payload.get("incident"), Mapping):
        incident = payload["incident"]
        incident_id = _text(incident, "id", "incident")
        status = (_text(incident, "status", "incident") or "").lower()
        updated_at = _time(incident, "updated_at", "incident", now)
        started_at = _time(incident, "started_at", "incident", _time(incident, "created_at", "incident", updated_at))
        components = [(str(c.get("id", "")), str(c.get("name", ""))) for c in incident.get("components") or []
                      if isinstance(c, Mapping)]
        for item in incident.get("incident_updates") or []:
            for c in (item.get("affected_components") or []) if isinstance(item, Mapping) else []:
                if isinstance(c, Mapping):
                    components.append((str(c.get("code", "")), str(c.get("name", ""))))
        impact = str(incident.get("impact_override") or incident.get("impact") or "minor").lower()
        updates_list = [u for u in incident.get("incident_updates") or [] if isinstance(u, Mapping)]
        detail = str(updates_list[0].get("body") or "") if updates_list else None
        page_url = incident.get("shortlink") if isinstance(incident.get("shortlink"), str) else None
        key = f"incident:{incident_id}:{updated_at.isoformat()}:{status}"
        names = mapped_integrations(source_name, integrations, components)
        return key, [IncidentUpdate(source_name, "incident", str(incident_id), name,
                                    str(incident.get("name") or f"incident {incident_id}"), status,
                                    impact if impact in _COMPONENT_IMPACT.values() else "minor",
                                    status not in _RESOLVED_INCIDENT, started_at, updated_at, page_url, detail)
                     for name in names]
    if isinstance(payload.get("component"), Mapping):
        component = payload["component"]
        change = payload.get("component_update") if isinstance(payload.get("component_update"), Mapping) else {}
        component_id = _text(component, "id", "component")
        status = (_text(change, "new_status", "component_update", required=False)
                  or _text(component, "status", "component") or "").lower()
        if status not in _COMPONENT_IMPACT:
            raise WebhookRejected(422, f"component.status: expected one of {', '.join(_COMPONENT_IMPACT)}")
        updated_at = _time(change, "created_at", "component_update", _time(component, "updated_at", "component", now))
        name = str(component.get("name") or component_id)
        key = f"component:{change.get('id') or component_id}:{updated_at.isoformat()}:{status}"
        names = mapped_integrations(source_name, integrations, [(str(component_id), name)])
        title = f"{name}: {status.replace('_', ' ')}"
        return key, [IncidentUpdate(source_name, "component", str(component_id), integration, title, status,
                                    _COMPONENT_IMPACT[status], status != "operational", updated_at, updated_at)
                     for integration in names]
    raise WebhookRejected(422, "expected a Statuspage incident or component update (no 'incident' or 'component')")


def generic_updates(source_name: str, payload: Any, integrations: Sequence[IntegrationConfig],
                    now: datetime) -> tuple[str, list[IncidentUpdate]]:
    """(event key, updates) of the generic JSON source: ``{"id", "integration", "status", "title", ...}``."""
    if not isinstance(payload, Mapping):
        raise WebhookRejected(422, "expected a JSON object")
    event_id = _text(payload, "id", "body")
    integration = _text(payload, "integration", "body")
    known = {i.name for i in integrations}
    if integration not in known:
        raise WebhookRejected(422, f"body.integration: {integration!r} is not an integration of the integrations file")
    status = (_text(payload, "status", "body") or "").lower()
    impact = (_text(payload, "impact", "body", required=False) or "major").lower()
    if impact not in _COMPONENT_IMPACT.values():
        raise WebhookRejected(422, f"body.impact: expected one of {', '.join(_COMPONENT_IMPACT.values())}")
    updated_at = _time(payload, "updated_at", "body", now)
    url = payload.get("url") if isinstance(payload.get("url"), str) else None
    return f"generic:{event_id}", [IncidentUpdate(
        source_name, "incident", str(payload.get("incident_id") or event_id), str(integration),
        _text(payload, "title", "body") or "", status, impact, status not in _GENERIC_RESOLVED,
        _time(payload, "started_at", "body", updated_at), updated_at, url,
        str(payload.get("detail") or "") or None)]


def record(engine: Engine, source: str, outcome: WebhookOutcome, body: bytes | None, size: int,
           received_at: datetime) -> None:
    """Record a request that was not applied (an applied one is recorded in its own transaction)."""
    with engine.begin() as connection:
        connection.execute(insert(ops_webhook_requests).values(_request_row(source, outcome, body, size, received_at)))


def _request_row(source: str, outcome: WebhookOutcome, body: bytes | None, size: int,
                 received_at: datetime) -> dict[str, Any]:
    return {"source": source[:64], "received_at": received_at, "outcome": outcome.outcome,
            "http_status": outcome.http_status, "reason": outcome.reason[:1000], "event_key": outcome.event_key,
            "body_bytes": size, "body_sha256": hashlib.sha256(body).hexdigest() if body is not None else None}


def receive(engine: Engine, source_name: str, source: WebhookSource, body: bytes, headers: Mapping[str, str],
            query: Mapping[str, str], integrations: Sequence[IntegrationConfig],
            received_at: datetime | None = None) -> WebhookOutcome:
    """Authenticate, parse and apply one request whose body is within the source's limit; always recorded."""
    now = received_at or datetime.now(UTC)
    try:
        authenticate(source, body, headers, query)
        payload = parse_json(body)
        parse = statuspage_updates if source.type == "statuspage" else generic_updates
        key, updates = parse(source_name, payload, integrations, now)
    except WebhookRejected as rejected:
        outcome = WebhookOutcome(rejected.http_status, REJECTED, rejected.reason)
        # The body of an unauthenticated request is not even hashed: it proves nothing and is nobody's.
        record(engine, source_name, outcome, body if rejected.http_status not in (401, 503) else None,
               len(body), now)
        return outcome
    if not updates:
        outcome = WebhookOutcome(202, IGNORED, f"no integration is mapped to this update (status_page.source: "
                                               f"{source_name} and its components in the integrations file)", key)
        record(engine, source_name, outcome, body, len(body), now)
        return outcome
    try:
        return _apply(engine, source_name, key, updates, body, now)
    except IntegrityError:  # the same update, delivered twice at once: the other request applied it
        outcome = WebhookOutcome(200, DUPLICATE, "already applied (concurrently)", key, len(updates))
        record(engine, source_name, outcome, body, len(body), now)
        return outcome


def _apply(engine: Engine, source_name: str, key: str, updates: Sequence[IncidentUpdate], body: bytes,
           now: datetime) -> WebhookOutcome:
    with engine.begin() as connection:
        a = ops_webhook_applied.c
        seen = connection.execute(select(a.applied_at).where(a.source == source_name, a.event_key == key)).first()
        if seen is not None:
            outcome = WebhookOutcome(200, DUPLICATE, f"already applied at {seen.applied_at.isoformat()}", key,
                                     len(updates))
        else:
            connection.execute(insert(ops_webhook_applied).values(source=source_name, event_key=key, applied_at=now))
            changed = apply_updates(connection, updates, now)
            outcome = WebhookOutcome(200, APPLIED, f"{changed} incident row(s) updated for "
                                                   f"{', '.join(sorted({u.integration for u in updates}))}", key,
                                     changed)
        connection.execute(insert(ops_webhook_requests).values(_request_row(source_name, outcome, body, len(body),
                                                                            now)))
    return outcome
