"""The service's state in one report: destinations, the D&B token, registrations and their last pull, and the
health of every probed integration with each failover group's active provider.

Read-only apart from migrating the project database on first use. Never includes a credential: the token
is reported as valid/expired with its remaining lifetime, never its value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from monitoring_pipeline.alerting.delivery_log import receiver_states
from monitoring_pipeline.config_errors import ConfigFileError
from monitoring_pipeline.destinations.config import DestinationsConfig, load_destinations
from monitoring_pipeline.destinations.status import destination_states
from monitoring_pipeline.dnb.ratelimit import limiter_key
from monitoring_pipeline.dnb.token_cache import CachedToken, FileTokenCache, SqlTokenCache
from monitoring_pipeline.integrations import store as probe_store
from monitoring_pipeline.integrations.config import IntegrationConfigError, load_integrations
from monitoring_pipeline.notifications.files import LOCAL, stored_totals
from monitoring_pipeline.notifications.registrations import RegistrationConfigError, load_registrations
from monitoring_pipeline.settings import DnbSettings, ProjectSettings, SettingsError
from monitoring_pipeline.storage.schema import dnb_registration_status


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def destinations_status(engine: Engine, destinations_file: Path | None, data_dir: Path,
                        settings: ProjectSettings | None = None) -> list[dict[str, Any]]:
    """The local export and every remote destination, declared or only recorded in ``destination_status``.

    A destinations file that cannot be loaded is reported as a row with ``error`` (and the destinations
    recorded in the database are still listed), not raised: the rest of the report still matters.
    """
    try:
        config: DestinationsConfig | None = load_destinations(destinations_file, settings)
        problem = None
    except (ConfigFileError, SettingsError) as error:
        config, problem = None, str(error)
    files, size = stored_totals(engine, LOCAL)
    rows: list[dict[str, Any]] = [{
        "destination": LOCAL, "kind": "local", "declared": True, "enabled": True, "target": str(data_dir),
        "formats": list(config.local.formats) if config else None, "gzip": config.local.gzip if config else None,
        "last_success_at": None, "last_error": None, "last_error_at": None, "last_partition": None,
        "files_stored": files, "bytes_stored": size,
    }]
    states = destination_states(engine)
    declared = config.remotes if config else {}
    for name in sorted(set(declared) | set(states)):
        remote, state = declared.get(name), states.get(name)
        rows.append({
            "destination": name,
            "kind": remote.type if remote else state.kind if state else None,
            "declared": remote is not None,
            "enabled": bool(remote and remote.enabled),
            "target": remote.describe() if remote else state.target if state else None,
            "formats": list(remote.target.formats) if remote else None,
            "gzip": remote.gzip if remote else None,
            "last_success_at": _iso(state.last_success_at) if state else None,
            "last_error": state.last_error if state else None,
            "last_error_at": _iso(state.last_error_at) if state else None,
            "last_partition": state.last_partition if state else None,
            "files_stored": state.files_stored if state else 0,
            "bytes_stored": state.bytes_stored if state else 0,
        })
    if problem:
        rows.append({"destination": None, "error": problem})
    return rows


def dnb_token_status(engine: Engine, state_dir: Path, dnb: DnbSettings) -> dict[str, Any]:
    """Whether this deployment holds a valid D&B token (shared cache: PostgreSQL, else the 0600 file)."""
    client_id, base_url = dnb.client_id, dnb.base_url
    if not client_id:
        return {"configured": False, "base_url": base_url, "token": "not configured (DNB_CLIENT_ID is not set)"}
    key = limiter_key(base_url, client_id)
    token: CachedToken | None = None
    if engine.dialect.name == "postgresql":
        token = SqlTokenCache(engine, key).load()
        where = "project database"
    else:
        where = str(state_dir)
        if (state_dir / f"dnb-token-{key}.json").is_file():
            token = FileTokenCache(state_dir, key).load()
    status: dict[str, Any] = {"configured": True, "base_url": base_url, "client_id": client_id, "cache": where}
    if token is None:
        status.update(token="none cached yet", expires_at=None, expires_in_seconds=None)
    else:
        left = int(token.seconds_left())
        status.update(
            token="valid" if left > 0 else "expired",
            expires_at=_iso(datetime.fromtimestamp(token.expires_at, UTC)),
            expires_in_seconds=max(left, 0),
        )
    return status


def registrations_status(engine: Engine, registrations_dir: Path) -> list[dict[str, Any]]:
    """Declared registrations with their landing state; registrations only in the database are listed too."""
    with engine.connect() as connection:
        states = {row.reference: row for row in connection.execute(select(dnb_registration_status))}
    try:
        declared = {c.reference: c for c in load_registrations(registrations_dir)}
        problem = None
    except RegistrationConfigError as error:
        declared, problem = {}, str(error)
    rows = []
    for reference in sorted(set(declared) | set(states)):
        config, state = declared.get(reference), states.get(reference)
        rows.append({
            "reference": reference,
            "declared": config is not None,
            "pulled": bool(config and config.pulls),
            "portfolio_size": len(config.portfolio) if config else None,
            "last_pull_at": _iso(state.last_attempt_at) if state else None,
            "last_success_at": _iso(state.last_success_at) if state else None,
            "last_error": state.last_error if state else None,
            "landed_total": int(state.landed_total or 0) if state else 0,
            "quarantined_total": int(state.quarantined_total or 0) if state else 0,
        })
    if problem:
        rows.append({"reference": None, "error": problem})
    return rows


def integrations_status(engine: Engine, integrations_path: Path) -> dict[str, Any]:
    """Each integration's state, breaker and last probe, and each failover group's routing decision.

    Integrations that were probed but are no longer in the file are listed too (``declared`` false).
    """
    now = datetime.now(UTC)
    try:
        declared = load_integrations(integrations_path).by_name()
        problem = None
    except IntegrationConfigError as error:
        declared, problem = {}, str(error)
    statuses = probe_store.load_statuses(engine)
    rows = []
    for name in sorted(set(declared) | set(statuses)):
        config, status = declared.get(name), statuses.get(name)
        health = status.health if status else None
        rows.append({
            "integration": name,
            "declared": config is not None,
            "enabled": bool(config and config.enabled),
            "category": config.category if config else None,
            "state": health.state if health else "UNKNOWN",
            "since": _iso(health.since) if health else None,
            "cause": health.cause if health else "never probed",
            "explained_by": health.explained_by if health else None,
            "breaker": (status.breaker.state(config.breaker.policy(), now.timestamp())
                        if status and config else None),
            "last_probe_at": _iso(status.last_probe_at) if status else None,
            "last_outcome": status.last_outcome if status else None,
            "last_latency_ms": round(status.last_latency_ms, 1) if status and status.last_latency_ms else None,
        })
    routing = [
        {"group": r["group"], "active": r["active"], "reason": r["reason"], "decided_at": _iso(r["decided_at"])}
        for r in probe_store.routing_rows(engine)
    ]
    return {"file": str(integrations_path), "error": problem, "integrations": rows, "failover": routing}


def collect_status(engine: Engine, settings: ProjectSettings) -> dict[str, Any]:
    return {
        "generated_at": _iso(datetime.now(UTC)),
        "destinations": destinations_status(engine, settings.destinations_file, settings.data_dir, settings),
        "dnb": dnb_token_status(engine, settings.home, settings.dnb),
        "registrations": registrations_status(engine, settings.registrations_dir),
        "integrations": integrations_status(engine, settings.integrations_file),
        "alert_receivers": receiver_states(engine),
    }


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    moment = datetime.fromisoformat(iso)
    return f"{moment.isoformat(timespec='seconds')} ({_duration((now - moment).total_seconds())} ago)"


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def render_text(status: dict[str, Any]) -> str:
    """The report for a terminal."""
    now = datetime.fromisoformat(status["generated_at"])
    lines = ["Destinations"]
    for d in status["destinations"]:
        if d["destination"] is None:
            lines.append(f"  CONFIGURATION ERROR: {d['error']}")
            continue
        label = ("enabled " if d["enabled"] else "disabled") if d["declared"] else "not declared"
        lines.append(f"  {d['destination']:<12} {d['kind']:<6} {label} {d['target']}")
        formats = "unknown" if d["formats"] is None else ",".join(d["formats"]) + (" gzip" if d["gzip"] else "")
        lines.append(f"      formats {formats}; files stored {d['files_stored']} ({d['bytes_stored']:,} bytes)")
        if d["kind"] != "local" and (d["enabled"] or not d["declared"]):
            lines.append(f"      last success {_ago(d['last_success_at'], now)}; last partition {d['last_partition']}")
            if d["last_error"]:
                lines.append(f"      LAST ERROR {_ago(d['last_error_at'], now)}: {d['last_error']}")
    dnb = status["dnb"]
    lines += ["", "D&B Direct+", f"  {dnb['base_url']}"]
    if not dnb["configured"]:
        lines.append(f"  token: {dnb['token']}")
    else:
        lines.append(f"  client {dnb['client_id']}, token cache: {dnb['cache']}")
        token = f"  token: {dnb['token']}"
        if dnb.get("expires_at"):
            token += f", expires {dnb['expires_at']} (in {_duration(dnb['expires_in_seconds'])})"
        lines.append(token)
    lines += ["", "Registrations"]
    for r in status["registrations"]:
        if r.get("reference") is None:
            lines.append(f"  CONFIGURATION ERROR: {r['error']}")
            continue
        kind = "pull" if r["pulled"] else ("declared" if r["declared"] else "not declared")
        lines.append(f"  {r['reference']:<20} {kind:<8} last pull {_ago(r['last_pull_at'], now)}; "
                     f"last success {_ago(r['last_success_at'], now)}; landed {r['landed_total']}, "
                     f"quarantined {r['quarantined_total']}")
        if r["last_error"]:
            lines.append(f"      LAST ERROR: {r['last_error']}")
    lines += _integration_lines(status["integrations"], now)
    lines += _receiver_lines(status.get("alert_receivers", []), now)
    return "\n".join(lines)


def _receiver_lines(receivers: list[dict[str, Any]], now: datetime) -> list[str]:
    lines = ["", "Alert receivers"]
    if not receivers:
        lines.append("  nothing delivered yet")
    for r in receivers:
        lines.append(f"  {r['receiver']:<20} {r['state']:<7} since {_ago(r['since'], now)}; last success "
                     f"{_ago(r['last_success_at'], now)}; pending {r['pending']}, held {r['held']}")
        if r["state"] != "ok" and r["reason"]:
            lines.append(f"      {r['reason']}")
    return lines


def _integration_lines(report: dict[str, Any], now: datetime) -> list[str]:
    lines = ["", f"Integrations ({report['file']})"]
    if report["error"]:
        lines.append(f"  CONFIGURATION ERROR: {report['error']}")
    if not report["integrations"]:
        lines.append("  none configured")
    for i in report["integrations"]:
        label = i["state"] if i["enabled"] else ("disabled" if i["declared"] else "not declared")
        latency = f", {i['last_latency_ms']:g} ms" if i["last_latency_ms"] is not None else ""
        breaker = f"; breaker {i['breaker']}" if i["breaker"] and i["breaker"] != "closed" else ""
        lines.append(f"  {i['integration']:<20} {label:<11} since {_ago(i['since'], now)}; "
                     f"last probe {_ago(i['last_probe_at'], now)}{latency}{breaker}")
        if i["state"] not in ("UP", "UNKNOWN") and i["cause"]:
            explained = f" (explained by {i['explained_by']})" if i["explained_by"] else ""
            lines.append(f"      {i['cause']}{explained}")
    for group in report["failover"]:
        lines.append(f"  failover {group['group']}: active {group['active'] or 'NONE'} ({group['reason']}), "
                     f"decided {_ago(group['decided_at'], now)}")
    return lines
