"""Inbound webhooks over real HTTP: Statuspage payloads change what the service shows; bad requests are answered
with the reason and recorded; a replayed update is applied once."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import func, select

from monitoring_pipeline.ops.webhooks import sign
from monitoring_pipeline.storage.schema import ops_webhook_applied, ops_webhook_requests, provider_incidents
from monitoring_pipeline_tests.ops.conftest import GENERIC_SECRET, STATUSPAGE_TOKEN

INCIDENT = {
    "meta": {"unsubscribe": "https://status.example/unsubscribe", "documentation": "https://help.example"},
    "page": {"id": "j2mfxwj97wnj", "status_indicator": "major", "status_description": "Partial System Outage"},
    "incident": {
        "id": "lbkhbwn21v5q", "name": "Elevated API error rates", "status": "investigating", "impact": "major",
        "created_at": "2026-12-04T09:00:00.000Z", "updated_at": "2026-12-04T09:05:00.000Z",
        "shortlink": "https://stspg.io/abc", "components": [{"id": "cmp_api", "name": "API"}],
        "incident_updates": [{"body": "We are investigating elevated error rates.", "status": "investigating",
                              "created_at": "2026-12-04T09:05:00.000Z"}],
    },
}


def _post(server, source: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/webhooks/{source}", content=body,
                      headers={"Content-Type": "application/json", **headers})


def _requests(engine) -> list[tuple[str, int, str]]:
    with engine.connect() as connection:
        return [(r.outcome, r.http_status, r.reason) for r in connection.execute(
            select(ops_webhook_requests).order_by(ops_webhook_requests.c.id))]


def test_a_statuspage_incident_shows_on_the_status_page_and_resolves(ops_server, engine, seeded):
    server = ops_server()
    stripe = seeded[0].stripe_like
    answer = _post(server, "statuspage", json.dumps(INCIDENT).encode(), **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "applied"
    listed = httpx.get(f"{server.url}/api/v1/incidents").json()["provider_incidents"]
    assert [(i["integration"], i["title"], i["impact"], i["active"]) for i in listed] == [
        (stripe, "Elevated API error rates", "major", True)]
    view = next(i for i in httpx.get(f"{server.url}/api/v1/integrations").json()["integrations"]
                if i["integration"] == stripe)
    assert view["provider_incidents"][0]["status"] == "investigating"
    assert "Elevated API error rates" in httpx.get(server.url + "/").text

    resolved = json.loads(json.dumps(INCIDENT))
    resolved["incident"].update(status="resolved", updated_at="2026-12-04T10:00:00.000Z")
    assert _post(server, "statuspage", json.dumps(resolved).encode(),
                 Authorization=f"Bearer {STATUSPAGE_TOKEN}").status_code == 200
    assert httpx.get(f"{server.url}/api/v1/incidents").json()["provider_incidents"] == []
    with engine.connect() as connection:
        row = connection.execute(select(provider_incidents)).one()
    assert (row.status, row.active, row.resolved_at.isoformat()) == ("resolved", False, "2026-12-04T10:00:00+00:00")


def test_a_replayed_update_is_answered_and_applied_once(ops_server, engine):
    server = ops_server()
    body = json.dumps(INCIDENT).encode()
    first = _post(server, "statuspage", body, **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    again = httpx.post(f"{server.url}/webhooks/statuspage?token={STATUSPAGE_TOKEN}", content=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["outcome"] == "duplicate"
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ops_webhook_applied)).scalar_one() == 1
        assert connection.execute(select(func.count()).select_from(provider_incidents)).scalar_one() == 1
    assert [r[0] for r in _requests(engine)] == ["applied", "duplicate"]


def test_an_older_update_delivered_late_does_not_undo_a_newer_one(ops_server, engine):
    server = ops_server()
    newer = json.loads(json.dumps(INCIDENT))
    newer["incident"].update(status="resolved", updated_at="2026-12-04T10:00:00.000Z")
    for payload in (newer, INCIDENT):
        assert _post(server, "statuspage", json.dumps(payload).encode(),
                     **{"X-Webhook-Token": STATUSPAGE_TOKEN}).status_code == 200
    with engine.connect() as connection:
        assert connection.execute(select(provider_incidents.c.status)).scalar_one() == "resolved"


def test_bad_requests_get_the_reason_and_are_recorded(ops_server, engine):
    server = ops_server()
    body = json.dumps(INCIDENT).encode()
    wrong = _post(server, "statuspage", body, **{"X-Webhook-Token": "not-the-token"})
    missing = _post(server, "statuspage", body)
    truncated = _post(server, "statuspage", body[: len(body) // 2], **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    oversized = _post(server, "statuspage", b"{" + b" " * 5000 + b"}", **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    unknown = _post(server, "nosuchsource", body)
    not_an_update = _post(server, "statuspage", b'{"hello": 1}', **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    assert [r.status_code for r in (wrong, missing, truncated, oversized, unknown, not_an_update)] == [
        401, 401, 400, 413, 404, 422]
    assert wrong.json()["reason"] == "wrong token"
    assert "not JSON" in truncated.json()["reason"]
    assert "4096 bytes" in oversized.json()["reason"]
    assert unknown.json()["reason"] == "unknown webhook source"
    for response in (wrong, missing, truncated, oversized, unknown, not_an_update):
        assert STATUSPAGE_TOKEN not in response.text and "not-the-token" not in response.text
    recorded = _requests(engine)
    assert [(outcome, status) for outcome, status, _ in recorded] == [
        ("rejected", 401), ("rejected", 401), ("rejected", 400), ("rejected", 413), ("rejected", 404),
        ("rejected", 422)]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(provider_incidents)).scalar_one() == 0
        hashes = connection.execute(select(ops_webhook_requests.c.body_sha256)).scalars().all()
    assert hashes[0] is None  # an unauthenticated body is not kept in any form


def test_a_component_update_for_an_unmapped_component_is_ignored(ops_server, engine, seeded):
    server = ops_server()
    component = {"component_update": {"id": "u1", "created_at": "2026-12-04T09:00:00Z", "old_status": "operational",
                                      "new_status": "major_outage", "component_id": "cmp_dashboard"},
                 "component": {"id": "cmp_dashboard", "name": "Dashboard", "status": "major_outage"}}
    ignored = _post(server, "statuspage", json.dumps(component).encode(), **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    assert (ignored.status_code, ignored.json()["outcome"]) == (202, "ignored")
    component["component"].update(id="cmp_api", name="API")
    component["component_update"].update(id="u2", component_id="cmp_api")
    applied = _post(server, "statuspage", json.dumps(component).encode(), **{"X-Webhook-Token": STATUSPAGE_TOKEN})
    assert applied.json()["outcome"] == "applied"
    incident = httpx.get(f"{server.url}/api/v1/incidents").json()["provider_incidents"][0]
    assert (incident["integration"], incident["impact"], incident["title"]) == (
        seeded[0].stripe_like, "critical", "API: major outage")


def test_the_generic_source_needs_its_hmac_signature(ops_server, seeded):
    server = ops_server()
    body = json.dumps({"id": "evt-1", "integration": seeded[0].down, "status": "open", "title": "Vendor outage",
                       "impact": "critical"}).encode()
    bad = _post(server, "ci", body, **{"X-Signature-256": sign("another-secret", body)})
    good = _post(server, "ci", body, **{"X-Signature-256": sign(GENERIC_SECRET, body)})
    unknown_integration = json.dumps({"id": "evt-2", "integration": "nope", "status": "open", "title": "x"}).encode()
    rejected = _post(server, "ci", unknown_integration, **{"X-Signature-256": sign(GENERIC_SECRET,
                                                                                   unknown_integration)})
    assert (bad.status_code, good.status_code, rejected.status_code) == (401, 200, 422)
    assert "integrations file" in rejected.json()["reason"]
