"""`monitoring-pipeline status`: the service's state in one report."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def status(as_json: bool) -> None:
    """The service's state: each destination (last success, last error, files stored), the D&B token
    (valid? expires in; never the token itself), registrations and their last pull, and each integration's
    health with the active provider of every failover group."""
    import json

    from monitoring_pipeline.service_status import collect_status, render_text
    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import shared_engine

    settings = ProjectSettings.from_env()
    report = collect_status(shared_engine(settings.database_url), settings)
    click.echo(json.dumps(report, indent=2) if as_json else render_text(report))


COMMANDS = [status]
