"""`monitoring-pipeline alerts deliveries` and `alerts test RECEIVER`: the delivery log, and a test notification
through the real path. Attached to the `alerts` group (ALERTS_SUBCOMMANDS)."""

from __future__ import annotations

import json

import click


def _engine_and_settings():  # type: ignore[no-untyped-def]
    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import shared_engine

    settings = ProjectSettings.from_env()
    return shared_engine(settings.database_url), settings


@click.command()
@click.option("--alert", "alert_id", type=int, help="Only attempts of notifications about this alert.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the attempts as JSON (newest first).")
def deliveries(alert_id: int | None, limit: int, as_json: bool) -> None:
    """The delivery log: every attempt with time, receiver, channel, kind, attempt number, outcome, HTTP status or
    SMTP reply, latency and the remote's answer (never a secret)."""
    from monitoring_pipeline.alerting.delivery_log import jsonable, recent_deliveries, render_deliveries

    engine, _ = _engine_and_settings()
    entries = recent_deliveries(engine, alert_id, limit)
    if as_json:
        click.echo(json.dumps([jsonable(e) for e in entries], indent=2))
    else:
        click.echo(render_deliveries(entries))


@click.command("test")
@click.argument("receiver")
@click.option("--timeout", type=click.FloatRange(1, 120), default=30.0, show_default=True,
              help="Seconds to wait for the channels to answer.")
def receiver_test(receiver: str, timeout: float) -> None:
    """Send a test notification to RECEIVER through the real path (outbox, delivery, log) and print each
    channel's outcome. A success makes a broken receiver healthy again, and what it held goes out."""
    from monitoring_pipeline.alerting.delivery import send_test
    from monitoring_pipeline.alerting.receivers import load_receivers
    from monitoring_pipeline.config_errors import ConfigFileError

    engine, settings = _engine_and_settings()
    try:
        receivers = load_receivers(settings.alerting_file)
    except ConfigFileError as error:
        raise click.ClickException(str(error)) from None
    if receiver not in receivers:
        known = ", ".join(sorted(receivers)) or "none"
        raise click.ClickException(f"no receiver {receiver!r} in {settings.alerting_file} (receivers: {known})")
    config = receivers[receiver]
    if not config.channels:
        raise click.ClickException(f"receiver {receiver!r} has no channels")
    result = send_test(engine, config, budget_seconds=timeout)
    for attempt in result.attempts:
        code = f" {attempt.status_code}" if attempt.status_code else ""
        latency = f" in {attempt.latency_ms:.0f} ms" if attempt.latency_ms is not None else ""
        click.echo(f"{attempt.channel} ({attempt.channel_type}): {attempt.outcome}{code}{latency}"
                   + (f" - {attempt.detail}" if attempt.detail else ""))
    missing = [c.label for c in config.channels if c.label not in {a.channel for a in result.attempts}]
    for label in missing:
        click.echo(f"{label}: not tried within {timeout:g}s (rate limit or budget)")
    if not result.ok:
        raise click.ClickException(f"receiver {receiver}: the test notification was not delivered everywhere")
    click.echo(f"receiver {receiver}: test notification delivered to every channel")


ALERTS_SUBCOMMANDS = [deliveries, receiver_test]
