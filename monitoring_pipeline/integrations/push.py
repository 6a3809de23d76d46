"""Push heartbeats: a job pings us (``/ping/<token>``, ``/start``, ``/fail``, ``/<exit status>``), each ping is
kept, and the probe pass judges the pings of every push integration like a probe result.

Judgement at a moment ``now`` (``grace`` is the lateness tolerated, and the longest a started run may take):

- no ping yet: no result (UNKNOWN, "never pinged"), as Healthchecks.io does: a job not yet deployed alerts nobody;
- the latest completion is a failure (``/fail``, a non-zero exit status): failed, class ``job_failed``;
- the latest success is older than ``period`` + ``grace`` (or the cron time after it is more than ``grace`` ago):
  failed, class ``missed``; so is a run started more than ``grace`` ago without a completion;
- otherwise UP, with the last run's duration (from its start ping) as the latency, so ``latency.degraded`` and
  ``response_time`` conditions speak about run time.

Tokens are secrets held in environment variables (``token_env``); a ping is matched by the SHA-256 of its token,
so the lookup reveals nothing about tokens, and no token is stored or shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Engine, delete, func, insert, select, tuple_

from monitoring_pipeline.integrations.auth import AuthError, secret
from monitoring_pipeline.integrations.conditions import Observation
from monitoring_pipeline.integrations.durations import format_duration
from monitoring_pipeline.integrations.probes.push import PushIntegration
from monitoring_pipeline.integrations.runner import FAILED, ProbeResult, judge
from monitoring_pipeline.storage.schema import integration_pings

START, SUCCESS, FAIL = "start", "success", "fail"
KINDS = (START, SUCCESS, FAIL)
MIN_TOKEN_CHARS = 20
MESSAGE_MAX_CHARS = 1000


@dataclass(frozen=True)
class Ping:
    integration: str
    received_at: datetime
    kind: str
    exit_status: int | None = None
    duration_ms: float | None = None
    message: str | None = None


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).digest()


def usable_token(integration: PushIntegration) -> str:
    """The integration's token from its variable; ``AuthError`` (naming the variable only) when unset or too short
    to be unguessable."""
    token = secret(integration.token_env)
    if len(token) < MIN_TOKEN_CHARS:
        raise AuthError(f"environment variable {integration.token_env} holds a ping token shorter than "
                        f"{MIN_TOKEN_CHARS} characters: too easy to guess (generate one with "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`)")
    return token


def token_owners(integrations: Iterable[PushIntegration]) -> dict[bytes, str]:
    """Which push integration each usable token belongs to, by the token's digest."""
    owners = {}
    for integration in integrations:
        if not integration.enabled:
            continue
        try:
            owners[token_digest(usable_token(integration))] = integration.name
        except AuthError:
            continue  # judged as an auth failure by the probe pass
    return owners


def record_ping(engine: Engine, integration: str, kind: str, *, now: datetime, exit_status: int | None = None,
                message: str | None = None, remote_address: str | None = None,
                user_agent: str | None = None) -> Ping:
    """Store one ping; a completion gets the duration since its run's start ping (the latest start after the
    previous completion)."""
    if kind not in KINDS:
        raise ValueError(f"a ping is one of {', '.join(KINDS)}, not {kind!r}")
    duration_ms = None
    with engine.begin() as connection:
        if kind != START:
            latest = _latest(connection, [integration])
            start = latest.get((integration, START))
            completion = max((latest[(integration, k)] for k in (SUCCESS, FAIL) if (integration, k) in latest),
                             key=lambda p: p.received_at, default=None)
            if start is not None and (completion is None or start.received_at > completion.received_at):
                duration_ms = round((now - start.received_at).total_seconds() * 1000.0, 3)
        text = message[:MESSAGE_MAX_CHARS] if message else None
        connection.execute(insert(integration_pings).values(
            integration=integration, received_at=now, kind=kind, exit_status=exit_status, duration_ms=duration_ms,
            message=text, remote_address=(remote_address or "")[:64] or None,
            user_agent=(user_agent or "")[:200] or None,
        ))
    return Ping(integration, now, kind, exit_status, duration_ms, text)


def evaluate(engine: Engine, integrations: Sequence[PushIntegration], now: datetime) -> dict[str, ProbeResult]:
    """A result per push integration that has pinged at least once (or whose token is unusable)."""
    with engine.connect() as connection:
        latest = _latest(connection, [i.name for i in integrations])
    results = {}
    for integration in integrations:
        result = judge_pings(integration, {kind: latest.get((integration.name, kind)) for kind in KINDS}, now)
        if result is not None:
            results[integration.name] = result
    return results


def judge_pings(integration: PushIntegration, latest: Mapping[str, Ping | None], now: datetime) -> ProbeResult | None:
    """The result of ``integration``'s latest ping of each kind at ``now`` (None: nothing to judge yet)."""
    try:
        usable_token(integration)
    except AuthError as error:
        return ProbeResult(integration.name, now, FAILED, error_class="auth", error=str(error))
    success, failure, start = latest.get(SUCCESS), latest.get(FAIL), latest.get(START)
    completion = max((p for p in (success, failure) if p is not None), key=lambda p: p.received_at, default=None)
    grace = timedelta(seconds=integration.grace)
    if completion is None:
        if start is not None and now - start.received_at > grace:
            return _failed(integration, now, "missed", f"a run started {_ago(start, now)} and has not completed "
                           f"within the grace ({format_duration(integration.grace)})")
        return None
    if completion.kind == FAIL:
        status = f" (exit status {completion.exit_status})" if completion.exit_status is not None else ""
        said = f": {completion.message[:200]}" if completion.message else ""
        return _failed(integration, now, "job_failed", f"the job reported a failure{status} {_ago(completion, now)}"
                       f"{said}", completion.duration_ms)
    assert success is not None
    deadline = next_expected(integration, success.received_at) + grace
    if now > deadline:
        return _failed(integration, now, "missed", f"no success ping since the one {_ago(success, now)}; expected "
                       + _schedule(integration))
    if start is not None and start.received_at > completion.received_at and now - start.received_at > grace:
        return _failed(integration, now, "missed", f"a run started {_ago(start, now)} and has not completed within "
                       f"the grace ({format_duration(integration.grace)})")
    fields = {
        "last_ping_age_seconds": round((now - success.received_at).total_seconds(), 3),
        "duration_seconds": None if success.duration_ms is None else round(success.duration_ms / 1000.0, 3),
        "exit_status": success.exit_status,
        "message": success.message,
    }
    verdict = judge(integration, Observation(None, success.duration_ms, fields=fields))
    return ProbeResult(integration.name, now, verdict.outcome, latency_ms=success.duration_ms,
                       error_class=verdict.error_class, error=verdict.error, conditions=verdict.conditions)


def next_expected(integration: PushIntegration, after: datetime) -> datetime:
    """When the ping after one at ``after`` is due: ``period`` later, or the next cron time."""
    if integration.period is not None:
        return after + timedelta(seconds=integration.period)
    local = after.astimezone(ZoneInfo(integration.timezone))
    return croniter(integration.cron, local).get_next(datetime).astimezone(UTC)


def prune_pings(engine: Engine, cutoff: datetime) -> int:
    """Delete pings older than ``cutoff`` but the latest of each kind per integration (they are still judged)."""
    with engine.begin() as connection:
        keep = select(func.max(integration_pings.c.id)).group_by(integration_pings.c.integration,
                                                                  integration_pings.c.kind)
        result = connection.execute(delete(integration_pings).where(
            integration_pings.c.received_at < cutoff, integration_pings.c.id.not_in(keep)))
    return result.rowcount or 0


def recent_pings(engine: Engine, integration: str, limit: int = 50) -> list[Ping]:
    """The latest pings of ``integration``, newest first (for pages and tools)."""
    table = integration_pings
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(table.c.integration == integration)
                                  .order_by(table.c.received_at.desc(), table.c.id.desc()).limit(limit)).all()
    return [_ping(row) for row in rows]


def _latest(connection, names: Sequence[str]) -> dict[tuple[str, str], Ping]:  # type: ignore[no-untyped-def]
    """The latest ping of each kind of each integration in ``names``."""
    if not names:
        return {}
    table = integration_pings
    newest = (select(table.c.integration, table.c.kind, func.max(table.c.id).label("id"))
              .where(table.c.integration.in_(list(names))).group_by(table.c.integration, table.c.kind).subquery())
    rows = connection.execute(select(table).where(
        tuple_(table.c.integration, table.c.kind, table.c.id).in_(select(newest.c.integration, newest.c.kind,
                                                                         newest.c.id)))).all()
    return {(row.integration, row.kind): _ping(row) for row in rows}


def _ping(row) -> Ping:  # type: ignore[no-untyped-def]
    return Ping(row.integration, row.received_at, row.kind, row.exit_status, row.duration_ms, row.message)


def _failed(integration: PushIntegration, now: datetime, error_class: str, message: str,
            latency_ms: float | None = None) -> ProbeResult:
    return ProbeResult(integration.name, now, FAILED, latency_ms=latency_ms, error_class=error_class,
                       error=message[:300])


def _ago(ping: Ping, now: datetime) -> str:
    seconds = max(0.0, (now - ping.received_at).total_seconds())
    return f"at {ping.received_at:%Y-%m-%d %H:%M:%S} UTC ({format_duration(round(seconds))} ago)"


def _schedule(integration: PushIntegration) -> str:
    if integration.period is not None:
        return f"every {format_duration(integration.period)} + {format_duration(integration.grace)} grace"
    return f"at '{integration.cron}' ({integration.timezone}) + {format_duration(integration.grace)} grace"
