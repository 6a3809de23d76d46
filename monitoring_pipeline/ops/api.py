"""The JSON API under ``/api/v1`` (described by ``/openapi.json``): integrations' health and metrics over a period,
a forced probe, performance and cost, provider incidents, registrations, alerts, acknowledgement and silences."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitoring_pipeline.integrations import push
from monitoring_pipeline.integrations.config import IntegrationConfig
from monitoring_pipeline.integrations.probes.push import PushIntegration
from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline.integrations.sla import percentile
from monitoring_pipeline.ops import alert_reads, dnb_reads, integration_reads
from monitoring_pipeline.ops.provider_incidents import ProviderIncident, active_incidents, incidents_between
from monitoring_pipeline.ops.snapshot import HISTORY_DAYS

if TYPE_CHECKING:
    from monitoring_pipeline.ops.app import OpsService

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "30d": timedelta(days=30), "90d": timedelta(days=90)}
_SILENCE_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def period_of(request: Request, default: str = "24h") -> tuple[str, timedelta]:
    name = request.query_params.get("period", default)
    if name not in PERIODS:
        raise ApiError(400, f"period: expected one of {', '.join(PERIODS)}, got {name[:20]!r}")
    return name, PERIODS[name]


def _config(service: OpsService, name: str) -> IntegrationConfig | None:
    configs, _problem = service.reader.integrations()
    return next((c for c in configs if c.name == name), None)


@dataclass(frozen=True)
class IntegrationDetail:
    """One integration over a period: what its page and ``GET /api/v1/integrations/{name}`` show."""

    config: IntegrationConfig
    period: str
    start: datetime
    end: datetime
    state: integration_reads.CurrentState | None
    days: list[integration_reads.DayAvailability]
    hours: list[integration_reads.HourPoint]
    probes: list[tuple[datetime, str, float | None]]
    outages: list[integration_reads.Outage]
    incidents: list[ProviderIncident]
    usage: tuple[int, float]

    def as_json(self) -> dict[str, Any]:
        state = self.state
        latencies = [p[2] for p in self.probes if p[2] is not None and p[1] != "failed"]
        return {
            "integration": self.config.name, "category": self.config.category, "sla": self.config.sla,
            "period": self.period, "start": self.start, "end": self.end,
            "state": state.state if state else "UNKNOWN", "since": state.since if state else None,
            "cause": state.cause if state else "never probed",
            "probes": len(self.probes), "failed": sum(1 for p in self.probes if p[1] == "failed"),
            "latency_p50_ms": percentile(latencies, 50), "latency_p95_ms": percentile(latencies, 95),
            "daily": [{"day": d.day, "availability": d.availability, "sla_met": d.code == integration_reads.BAR_MET,
                       "latency_p95_ms": d.latency_p95_ms} for d in self.days],
            "hourly": [{"hour": h.hour, "probes": h.probes, "failed": h.failed, "availability": h.availability,
                        "latency_p50_ms": h.latency_p50_ms, "latency_p95_ms": h.latency_p95_ms} for h in self.hours],
            "outages": [{"started_at": o.started_at, "ended_at": o.ended_at,
                         "duration_seconds": o.duration_seconds(self.end), "cause": o.cause} for o in self.outages],
            "provider_incidents": [_incident_json(i) for i in self.incidents],
            "calls": self.usage[0], "cost": round(self.usage[1], 4),
        }


def integration_detail(service: OpsService, name: str, period: str) -> IntegrationDetail | None:
    config = _config(service, name)
    if config is None:
        return None
    engine = service.engine
    end = datetime.now(UTC)
    start = end - PERIODS[period]
    first_day = (end - timedelta(days=HISTORY_DAYS - 1)).date() if period != "90d" else start.date()
    history = integration_reads.daily_history(engine, min(first_day, start.date()), end.date() + timedelta(days=1),
                                              [name]).get(name, {})
    return IntegrationDetail(
        config=config, period=period, start=start, end=end,
        state=integration_reads.current_states(engine).get(name),
        days=[history[d] for d in sorted(history)],
        hours=integration_reads.hourly_series(engine, name, start, end),
        probes=integration_reads.raw_series(engine, name, max(start, end - timedelta(days=1)), end),
        outages=integration_reads.outages(engine, start, end, integration=name, limit=100),
        incidents=incidents_between(engine, start, end, integration=name),
        usage=integration_reads.usage(engine, start.date(), end.date() + timedelta(days=1)).get(name, (0, 0.0)),
    )


def _incident_json(incident: ProviderIncident) -> dict[str, Any]:
    return {"source": incident.source, "kind": incident.kind, "id": incident.external_id,
            "integration": incident.integration, "title": incident.title, "status": incident.status,
            "impact": incident.impact, "active": incident.active, "started_at": incident.started_at,
            "updated_at": incident.updated_at, "resolved_at": incident.resolved_at, "url": incident.url}


def routes(service: OpsService) -> list[Route]:
    from monitoring_pipeline.ops.app import JSON, problem

    def reader(handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            denied = service.read_denied(request)
            if denied is not None:
                return denied
            try:
                return JSON(await handler(request))
            except ApiError as error:
                return problem(error.status, error.reason)
        return endpoint

    def writer(handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            denied = service.write_denied(request)
            if denied is not None:
                return denied
            try:
                status, body = await handler(request)
                return JSON(body, status_code=status)
            except ApiError as error:
                return problem(error.status, error.reason)
        return endpoint

    async def integrations(request: Request) -> Any:
        snapshot = await run_in_threadpool(service.reader.snapshot, 2.0)
        return {"generated_at": snapshot.generated_at, "overall": snapshot.overall, "counts": snapshot.state_counts,
                "integrations": [{
                    "integration": v.name, "category": v.category, "group": v.group, "enabled": v.enabled,
                    "state": v.state, "since": v.since, "cause": v.cause, "breaker": v.breaker, "sla": v.sla,
                    "availability_today": v.availability_today, "availability_90d": v.availability_90d,
                    "latency_p95_ms": v.latency_p95_ms, "last_latency_ms": v.last_latency_ms,
                    "error_rate": v.error_rate, "failover_group": v.failover_group,
                    "provider_incidents": [_incident_json(i) for i in v.incidents],
                    "availability_bars": v.bars,
                } for v in snapshot.by_name.values()]}

    async def integration(request: Request) -> Any:
        period, _delta = period_of(request)
        detail = await run_in_threadpool(integration_detail, service, request.path_params["name"], period)
        if detail is None:
            raise ApiError(404, "no such integration in the integrations file")
        return detail.as_json()

    async def probe(request: Request) -> tuple[int, Any]:
        config = _config(service, request.path_params["name"])
        if config is None:
            raise ApiError(404, "no such integration in the integrations file")
        if isinstance(config, PushIntegration):
            return 200, await run_in_threadpool(_push_verdict, service, config)
        deadline = time.monotonic() + config.worst_case_seconds() + 5
        results = await ProbeRunner(concurrency=1).run_async([config], deadline)
        result = results[0]
        return 200, {"integration": result.integration, "probed_at": result.started_at, "outcome": result.outcome,
                     "status_code": result.status_code, "latency_ms": result.latency_ms,
                     "error_class": result.error_class, "error": result.error, "attempts": result.attempts,
                     "conditions": [c.as_json() for c in result.conditions],
                     "note": "a forced probe is reported, not recorded: the probe sensor's passes drive the state"}

    async def performance(request: Request) -> Any:
        period, delta = period_of(request, "7d")
        return await run_in_threadpool(_performance, service, period, delta)

    async def incidents(request: Request) -> Any:
        found = await run_in_threadpool(active_incidents, service.engine)
        return {"provider_incidents": [_incident_json(i) for i in found]}

    async def registrations(request: Request) -> Any:
        rows = await run_in_threadpool(dnb_reads.registration_landings, service.engine)
        last = await run_in_threadpool(dnb_reads.last_delivery_by_registration, service.engine)
        return {"registrations": [{
            "reference": r.reference, "last_pull_at": r.last_attempt_at, "last_success_at": r.last_success_at,
            "last_error": r.last_error, "landed_total": r.landed_total, "quarantined_total": r.quarantined_total,
            "last_delivery_at": last.get(r.reference)} for r in rows]}

    async def alerts(request: Request) -> Any:
        available = await run_in_threadpool(alert_reads.alerts_available, service.engine)
        found = await run_in_threadpool(alert_reads.active_alerts, service.engine)
        return {"alerting_available": available, "alerts": found}

    async def alert(request: Request) -> Any:
        alert_id = _int(request.path_params["alert_id"])
        found = await run_in_threadpool(alert_reads.alert, service.engine, alert_id)
        if found is None:
            raise ApiError(404, "no such alert")
        return found

    async def timeline(request: Request) -> Any:
        alert_id = _int(request.path_params["alert_id"])
        found = await run_in_threadpool(alert_reads.alert_timeline, service.engine, alert_id)
        if found is None:
            raise ApiError(404, "no such alert")
        return {"alert_id": alert_id, "timeline": found}

    async def statistics(request: Request) -> Any:
        period, delta = period_of(request, "7d")
        end = datetime.now(UTC)
        stats = await run_in_threadpool(alert_reads.alert_statistics, service.engine, end - delta, end, 10)
        return {"period": period, "statistics": stats, "noisiest_rules": stats.noisiest}

    async def acknowledge(request: Request) -> tuple[int, Any]:
        alert_id = _int(request.path_params["alert_id"])
        body = await _json_body(request)
        by = _text(body, "by", "api")
        comment = _text(body, "comment", "")

        outcome = await run_in_threadpool(service.acknowledge, alert_id, by, comment)
        status = {"acknowledged": 200, "already_acknowledged": 200, "resolved": 409, "pending": 409,
                  "not_found": 404}.get(outcome, 503)
        return status, {"alert_id": alert_id, "outcome": outcome}

    async def silences(request: Request) -> Any:
        found = await run_in_threadpool(alert_reads.silences, service.engine, datetime.now(UTC),
                                        request.query_params.get("expired") == "1")
        return {"silences": found}

    async def create_silence(request: Request) -> tuple[int, Any]:
        body = await _json_body(request)
        matchers = body.get("matchers")
        if not isinstance(matchers, dict) or not matchers or not all(
                isinstance(k, str) and _SILENCE_LABEL.match(k) and isinstance(v, str) for k, v in matchers.items()):
            raise ApiError(422, "matchers: expected a non-empty object of label name to value, e.g. "
                                '{"integration": "stripe"}')
        now = datetime.now(UTC)
        duration = body.get("duration_minutes", 60)
        if not isinstance(duration, int | float) or not 1 <= duration <= 60 * 24 * 30:
            raise ApiError(422, "duration_minutes: expected a number of minutes from 1 to 43200")
        created_by, comment = _text(body, "created_by", "api"), _text(body, "comment", "")

        def run() -> alert_reads.SilenceView | None:
            with service.engine.begin() as connection:
                return alert_reads.create_silence(connection, matchers, now, now + timedelta(minutes=duration),
                                                  created_by, comment)

        try:
            created = await run_in_threadpool(run)
        except alert_reads.SilenceError as error:
            raise ApiError(422, str(error)) from None
        if created is None:
            raise ApiError(503, "silences are not available: this deployment has no alert engine yet")
        return 201, created

    async def expire_silence(request: Request) -> tuple[int, Any]:
        silence_id = _int(request.path_params["silence_id"])

        def run() -> bool | None:
            with service.engine.begin() as connection:
                return alert_reads.expire_silence(connection, silence_id, "api", datetime.now(UTC))

        done = await run_in_threadpool(run)
        if done is None:
            raise ApiError(503, "silences are not available: this deployment has no alert engine yet")
        if not done:
            raise ApiError(404, "no such active silence")
        return 200, {"silence_id": silence_id, "expired": True}

    return [
        Route("/api/v1/integrations", reader(integrations)),
        Route("/api/v1/integrations/{name}", reader(integration)),
        Route("/api/v1/integrations/{name}/probe", writer(probe), methods=["POST"]),
        Route("/api/v1/performance", reader(performance)),
        Route("/api/v1/incidents", reader(incidents)),
        Route("/api/v1/registrations", reader(registrations)),
        Route("/api/v1/alerts", reader(alerts)),
        Route("/api/v1/alerts/statistics", reader(statistics)),
        Route("/api/v1/alerts/{alert_id}", reader(alert)),
        Route("/api/v1/alerts/{alert_id}/timeline", reader(timeline)),
        Route("/api/v1/alerts/{alert_id}/acknowledge", writer(acknowledge), methods=["POST"]),
        Route("/api/v1/silences", reader(silences), methods=["GET"]),
        Route("/api/v1/silences", writer(create_silence), methods=["POST"]),
        Route("/api/v1/silences/{silence_id}", writer(expire_silence), methods=["DELETE"]),
    ]


def _push_verdict(service: OpsService, config: PushIntegration) -> dict[str, Any]:
    """A push integration is never called: its forced probe judges the pings received so far, now."""
    now = datetime.now(UTC)
    result = push.evaluate(service.engine, [config], now).get(config.name)
    note = "a push integration is not called: this judges the pings it sent, as the probe sensor does"
    if result is None:
        return {"integration": config.name, "probed_at": now, "outcome": None, "status_code": None,
                "latency_ms": None, "error_class": None, "error": None, "attempts": 0, "conditions": [],
                "note": f"no ping has arrived yet: nothing to judge ({note})"}
    return {"integration": result.integration, "probed_at": result.started_at, "outcome": result.outcome,
            "status_code": result.status_code, "latency_ms": result.latency_ms, "error_class": result.error_class,
            "error": result.error, "attempts": 0, "conditions": [c.as_json() for c in result.conditions],
            "note": note}


def _performance(service: OpsService, period: str, delta: timedelta) -> dict[str, Any]:
    """Per integration over the period: availability against the SLA, p95, error rate, calls and cost."""
    end = datetime.now(UTC)
    start = end - delta
    configs, _problem = service.reader.integrations()
    first, last = start.date(), end.date() + timedelta(days=1)
    history = integration_reads.daily_history(service.engine, first, last)
    usage = integration_reads.usage(service.engine, first, last)
    rows = []
    for config in configs:
        days = [d for d in history.get(config.name, {}).values() if d.availability is not None]
        availability = sum(d.availability for d in days) / len(days) if days else None  # type: ignore[misc]
        p95s = [d.latency_p95_ms for d in days if d.latency_p95_ms is not None]
        calls, cost = usage.get(config.name, (0, 0.0))
        rows.append({"integration": config.name, "category": config.category, "sla": config.sla,
                     "days": len(days), "availability": availability,
                     "sla_met": None if availability is None else availability * 100 >= config.sla,
                     "days_below_sla": sum(1 for d in days if d.code != integration_reads.BAR_MET),
                     "worst_day_p95_ms": max(p95s) if p95s else None, "calls": calls, "cost": round(cost, 4),
                     "cost_per_call": config.cost_per_call})
    return {"period": period, "start": start, "end": end, "from_days": [first, last],
            "total_cost": round(sum(r["cost"] for r in rows), 4), "integrations": rows,
            "dnb_calls": dnb_reads.dnb_calls(service.engine, first, last)}


def _int(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise ApiError(400, "expected a numeric id")
    return int(text)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise ApiError(413, "body larger than 64 KiB")
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "expected a JSON object")
    return body


def _text(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or len(value) > 500:
        raise ApiError(422, f"{key}: expected text of at most 500 characters")
    return value
