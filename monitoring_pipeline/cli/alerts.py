"""`monitoring-pipeline alerts ...`: list, inspect, acknowledge, resolve and silence alerts; test routes; check the
alerting file. More subcommands join the group with ``alerts.add_command`` (delivery adds `deliveries` and `test`).

Every error is one line naming what went wrong, never a traceback.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
TIME = "%Y-%m-%d %H:%M:%S"


@click.group()
def alerts() -> None:
    """Alerts: list, show, acknowledge, resolve, silence; test routes; check the alerting file (ALERTING_CONFIG)."""


def _settings():  # type: ignore[no-untyped-def]
    from monitoring_pipeline.settings import ProjectSettings, SettingsError

    try:
        return ProjectSettings.from_env()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def _database(write: bool = False) -> Iterator[Any]:
    """A connection (a transaction when ``write``); database trouble is one line without the URL's password."""
    from sqlalchemy.exc import SQLAlchemyError

    from monitoring_pipeline.storage.database import shared_engine

    settings = _settings()
    try:
        engine = shared_engine(settings.database_url)
        with engine.begin() if write else engine.connect() as connection:
            yield connection
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise click.ClickException(f"the project database cannot be used: {reason}") from None


def _config(required: bool = True):  # type: ignore[no-untyped-def]
    from monitoring_pipeline.alerting.config import load_alerting
    from monitoring_pipeline.config_errors import ConfigFileError

    try:
        return load_alerting(_settings().alerting_file)
    except ConfigFileError as error:
        if required:
            raise click.ClickException(str(error)) from None
        click.echo(f"warning: {error} (going on without it)", err=True)
        return None


def _links():  # type: ignore[no-untyped-def]
    """The links the engine puts in notifications (the ops file's public URL), so the acknowledgement notice this
    sends links to the alert as the engine's own notices do; a bad ops file costs the links, not the action."""
    from monitoring_pipeline.ops.ack_links import notification_links
    from monitoring_pipeline.ops.config import OpsConfigError, load_ops_config

    try:
        return notification_links(load_ops_config(_settings().ops.config_file))
    except OpsConfigError as error:
        click.echo(f"warning: {error} (the notices go out without links)", err=True)
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime | None) -> str:
    return moment.strftime(TIME) if moment else "-"


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = max(0.0, (now - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _state(row: Any) -> str:
    flags = [name for name, on in (("silenced", row.silenced), ("inhibited", row.inhibited)) if on and row.is_open]
    return row.state + (f" ({', '.join(flags)})" if flags else "")


def _alert_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "rule": row.rule, "state": row.state, "severity": row.severity, "source": row.source,
            "silenced": row.silenced, "inhibited": row.inhibited, "muted_by": row.muted_by, "labels": row.labels,
            "annotations": row.annotations, "value": row.value, "event": row.is_event,
            "started_at": (row.fired_at or row.active_since).isoformat(),
            "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
            "acknowledged_by": row.acknowledged_by,
            "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None}


@alerts.command("list")
@click.option("--state", type=click.Choice(["open", "pending", "firing", "acknowledged", "resolved", "silenced",
                                            "inhibited", "all"]), default="open", show_default=True,
              help="open: pending, firing and acknowledged.")
@click.option("--severity", type=click.Choice(["critical", "error", "warning", "info"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
def list_command(state: str, severity: str | None, limit: int, as_json: bool) -> None:
    """Alerts, most severe then newest first."""
    from monitoring_pipeline.alerting.queries import list_alerts

    with _database() as connection:
        rows = list_alerts(connection, state, limit, severity)
    if as_json:
        click.echo(json.dumps([_alert_json(row) for row in rows], indent=2))
        return
    if not rows:
        click.echo(f"no {state} alerts" if state != "all" else "no alerts")
        return
    now = _now()
    table = [("ID", "STATE", "SEVERITY", "SINCE", "RULE", "SUMMARY")]
    table += [(str(row.id), _state(row), row.severity, _age(row.fired_at or row.active_since, now), row.rule,
               row.annotations.get("summary", "")) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    for line in table:
        click.echo("  ".join(value.ljust(widths[i]) for i, value in enumerate(line[:5])) + "  " + line[5])


@alerts.command("show")
@click.argument("alert_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the alert and its timeline as JSON.")
def show_command(alert_id: int, as_json: bool) -> None:
    """One alert: labels, annotations, groups and its whole timeline."""
    from monitoring_pipeline.alerting.queries import alert_detail

    with _database() as connection:
        detail = alert_detail(connection, alert_id)
    if detail is None:
        raise click.ClickException(f"no alert {alert_id}")
    row = detail.alert
    if as_json:
        click.echo(json.dumps({**_alert_json(row), "details": row.details, "groups": detail.groups,
                               "timeline": [{"at": e.at.isoformat(), "event": e.event, "detail": e.detail,
                                             "actor": e.actor} for e in detail.timeline]}, indent=2, default=str))
        return
    click.echo(f"alert {row.id}: {row.annotations.get('summary', row.rule)}")
    click.echo(f"  rule       {row.rule} ({row.source}{', event' if row.is_event else ''})")
    click.echo(f"  state      {_state(row)}, severity {row.severity}")
    if row.muted_by:
        click.echo(f"  muted      {row.muted_by}")
    click.echo(f"  started    {_when(row.fired_at or row.active_since)} UTC")
    if row.acknowledged_at:
        comment = f": {row.acknowledgement_comment}" if row.acknowledgement_comment else ""
        click.echo(f"  acked      {_when(row.acknowledged_at)} UTC by {row.acknowledged_by}{comment}")
    if row.resolved_at:
        click.echo(f"  resolved   {_when(row.resolved_at)} UTC" + (f" by {row.resolved_by}" if row.resolved_by else ""))
    click.echo("  labels     " + ", ".join(f"{k}={v}" for k, v in sorted(row.labels.items()) if v))
    for name, text in sorted(row.annotations.items()):
        if name != "summary":
            click.echo(f"  {name:<10} " + text.replace("\n", "\n" + " " * 13))
    for group in detail.groups:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(group["labels"].items())) or "(one group)"
        told = ", ".join(group["told"]) or "nobody yet"
        click.echo(f"  group      {labels} via {group['route']}: told {told}; escalation {group['escalation']}")
    click.echo("timeline:")
    for entry in detail.timeline:
        actor = f" [{entry.actor}]" if entry.actor and entry.actor != "engine" else ""
        click.echo(f"  {_when(entry.at)}  {entry.event:<14} {entry.detail}{actor}")


def _person(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (a container without one): say so rather than fail
        return "unknown"


def _act(action_name: str, alert_id: int, by: str | None, comment: str, refused: tuple[str, ...]) -> None:
    """Acknowledge or resolve through the engine, in one transaction; a refusal is an error line."""
    from monitoring_pipeline.alerting import actions

    config = _config(required=False)
    action = getattr(actions, action_name)
    extra = {"links": _links()} if action_name == "acknowledge" else {}
    with _database(write=True) as connection:
        outcome = action(connection, alert_id, _person(by), comment, _now(), config=config, **extra)
    message = actions.outcome_message(outcome, alert_id)
    if outcome in refused:
        raise click.ClickException(message)
    click.echo(message)


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", help="Who acknowledges (default: your user name).")
@click.option("--comment", default="", help="Why, or what you are doing about it.")
def ack_command(alert_id: int, by: str | None, comment: str) -> None:
    """Acknowledge an alert: reminders and escalation stop, every receiver that was told hears it."""
    _act("acknowledge", alert_id, by, comment, refused=("not_found", "pending"))


@alerts.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--by", help="Who resolves it (default: your user name).")
@click.option("--comment", default="", help="Why.")
def resolve_command(alert_id: int, by: str | None, comment: str) -> None:
    """Resolve an event alert (a D&B company event, a failover) by hand."""
    _act("resolve", alert_id, by, comment, refused=("not_found", "not_an_event"))


def _duration(value: str) -> float:
    from monitoring_pipeline.integrations.durations import DURATION_EXPECTED, parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError:
        raise click.BadParameter(DURATION_EXPECTED) from None
    if seconds <= 0:
        raise click.BadParameter("a positive duration")
    return seconds


@alerts.command("silence")
@click.option("--match", "matchers", multiple=True, required=True, metavar="LABEL=VALUE",
              help="A label matcher (=, !=, =~ regex, !~); repeat for more. Alerts matching all are silenced.")
@click.option("--for", "duration", required=True, metavar="DURATION", help="How long, e.g. 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why (shown with every silenced alert).")
@click.option("--by", help="Who silences (default: your user name).")
def silence_command(matchers: tuple[str, ...], duration: str, comment: str, by: str | None) -> None:
    """Silence alerts matching labels for a while: they stay visible, nobody is notified."""
    from monitoring_pipeline.alerting.matchers import MatcherError, parse_matcher
    from monitoring_pipeline.alerting.silences import SilenceError, create_silence

    try:
        parsed = [parse_matcher(text) for text in matchers]
    except MatcherError as error:
        raise click.BadParameter(str(error), param_hint="--match") from None
    seconds = _duration(duration)
    now = _now()
    try:
        with _database(write=True) as connection:
            silence = create_silence(connection, parsed, now, now + timedelta(seconds=seconds), _person(by), comment,
                                     now)
    except SilenceError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"silence {silence.id}: {', '.join(silence.matchers)} until {_when(silence.ends_at)} UTC "
               f"(applied at the next evaluation)")


@alerts.command("silences")
@click.option("--all", "include_expired", is_flag=True, help="Expired silences too.")
@click.option("--json", "as_json", is_flag=True, help="Print the silences as JSON.")
def silences_command(include_expired: bool, as_json: bool) -> None:
    """Silences in force and to come (newest first)."""
    from monitoring_pipeline.alerting.silences import list_silences

    now = _now()
    with _database() as connection:
        found = list_silences(connection, now, include_expired)
    if as_json:
        click.echo(json.dumps([{"id": s.id, "matchers": list(s.matchers), "state": s.state(now),
                                "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(),
                                "created_by": s.created_by, "comment": s.comment, "expired_by": s.expired_by}
                               for s in found], indent=2))
        return
    if not found:
        click.echo("no silences")
        return
    for s in found:
        ended = f", ended by {s.expired_by}" if s.expired_by else ""
        click.echo(f"{s.id:>4}  {s.state(now):<8} until {_when(s.ends_at)} UTC  {', '.join(s.matchers)}  "
                   f"by {s.created_by}: {s.comment}{ended}")


@alerts.command("unsilence")
@click.argument("silence_id", type=int)
@click.option("--by", help="Who ends it (default: your user name).")
def unsilence_command(silence_id: int, by: str | None) -> None:
    """End a silence now."""
    from monitoring_pipeline.alerting.silences import expire_silence

    with _database(write=True) as connection:
        ended = expire_silence(connection, silence_id, _person(by), _now())
    if not ended:
        raise click.ClickException(f"no silence {silence_id} in force")
    click.echo(f"silence {silence_id} ended (applied at the next evaluation)")


@alerts.group("routes")
def routes() -> None:
    """The route tree of the alerting file."""


@routes.command("test")
@click.argument("labels", nargs=-1, required=True, metavar="LABEL=VALUE...")
@click.option("--severity", type=click.Choice(["critical", "error", "warning", "info"]),
              help="Severity of the alert (default: its severity label, else warning); picks escalation policies.")
def routes_test(labels: tuple[str, ...], severity: str | None) -> None:
    """Which routes and receivers an alert with these labels reaches (like amtool config routes test)."""
    from monitoring_pipeline.alerting.dispatch import Dispatcher, receivers_for

    pairs = {}
    for text in labels:
        name, sign, value = text.partition("=")
        if not sign or not name:
            raise click.BadParameter(f"expected LABEL=VALUE, got {text!r}", param_hint="LABELS")
        pairs[name.strip()] = value.strip().strip('"')
    severity = severity or pairs.get("severity") or "warning"
    pairs.setdefault("severity", severity)
    found = receivers_for(Dispatcher(_config()), pairs, severity)
    receivers = sorted({r for _, names in found for r in names})
    for route, names in found:
        group = route.group_labels(pairs)
        grouped = ", ".join(f"{k}={v}" for k, v in group.items()) or "(one group)"
        click.echo(f"route {route.key}: {', '.join(names) or 'no receiver'}; grouped by {grouped}; "
                   f"wait {route.group_wait:g}s, interval {route.group_interval:g}s, repeat {route.repeat_interval:g}s")
    click.echo(",".join(receivers) if receivers else "no receiver")


@alerts.command("check-config")
def check_config() -> None:
    """Validate the alerting file (rules, templates, routes, receivers, escalation) and summarise it."""
    settings = _settings()
    config = _config()
    from monitoring_pipeline.alerting.default_rules import DEFAULT_RULES

    defaults = {rule["name"] for rule in DEFAULT_RULES}
    enabled = config.enabled_rules
    from_defaults = sum(1 for rule in enabled if rule.name in defaults)

    def count(node: Any) -> int:
        return 1 + sum(count(child) for child in node.routes)

    where = settings.alerting_file if settings.alerting_file.exists() else f"{settings.alerting_file} (absent)"
    click.echo(f"{where}: valid")
    click.echo(f"  rules: {len(enabled)} enabled ({from_defaults} default), {len(config.rules) - len(enabled)} "
               "disabled")
    click.echo(f"  receivers: {', '.join(config.receivers) or 'none (alerts are recorded, nobody is notified)'}")
    click.echo(f"  routes: {count(config.route)}; inhibit rules: {len(config.inhibit_rules)}; time intervals: "
               f"{len(config.time_intervals)}; escalation policies: {len(config.escalation_policies)}; "
               f"silences are managed with `alerts silence`")


COMMANDS = [alerts]
