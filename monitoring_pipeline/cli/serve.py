"""`monitoring-pipeline serve` (the ops service) and `monitoring-pipeline report` (render a report now)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default OPS_HOST, else 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default OPS_PORT, else 8767).")
def serve(host: str | None, port: int | None) -> None:
    """The ops service: live status page, /metrics, /health/live and /health/ready, the JSON API (/openapi.json),
    inbound webhooks and acknowledgement links, read from the project database (configured by OPS_CONFIG)."""
    from monitoring_pipeline.ops.config import load_ops_config
    from monitoring_pipeline.ops.server import serve_forever
    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import shared_engine

    settings = ProjectSettings.from_env()
    config = load_ops_config(settings.ops.config_file)
    serve_forever(shared_engine(settings.database_url), settings, config, host or settings.ops.host,
                  settings.ops.port if port is None else port)


@click.command()
@click.option("--kind", type=click.Choice(["daily", "weekly"]), default="daily", show_default=True)
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day (weekly: the first day of the week). Default: yesterday (weekly: the 7 days to yesterday).")
@click.option("--email/--no-email", default=False, show_default=True, help="Also e-mail it to the recipients.")
def report(kind: str, day: datetime | None, email: bool) -> None:
    """Render a report now and store it under <data dir>/reports/YYYY/MM/DD/ (what the Dagster assets do)."""
    from monitoring_pipeline.alerting.receivers import load_receivers
    from monitoring_pipeline.integrations.config import load_integrations
    from monitoring_pipeline.ops.config import load_ops_config
    from monitoring_pipeline.reports.figures import daily, weekly
    from monitoring_pipeline.reports.produce import produce_report
    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import shared_engine

    settings = ProjectSettings.from_env()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first: date = day.date() if day else (yesterday if kind == "daily" else yesterday - timedelta(days=6))
    period = daily(first) if kind == "daily" else weekly(first)
    outcome = produce_report(shared_engine(settings.database_url), period, load_ops_config(settings.ops.config_file),
                             load_integrations(settings.integrations_file).integrations, settings.reports_dir,
                             settings.dnb.rate_limit_per_second, send_mail=email,
                             receivers=load_receivers(settings.alerting_file) if email else None)
    click.echo(f"{outcome.figures.headline}: {outcome.path}")
    for problem in outcome.figures.problems:
        click.echo(f"  - {problem}")
    if email:
        click.echo(f"e-mailed to {', '.join(outcome.recipients)}" if outcome.mail_error is None
                   else f"not e-mailed: {outcome.mail_error}")


COMMANDS = [serve, report]
