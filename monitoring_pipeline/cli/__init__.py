"""`monitoring-pipeline ...`: the project's command line, one module per group of commands."""

from __future__ import annotations

import click

from monitoring_pipeline.logs import configure_logging
from monitoring_pipeline.settings import LogSettings, load_env_file


@click.group()
def main() -> None:
    """Monitoring pipeline: D&B Direct+ monitoring, integration health and alerting on Dagster."""
    # What the demo or the operator wrote in ./.env applies to every command, as it does to `dagster dev`.
    load_env_file()
    configure_logging(LogSettings.from_env())  # JSON lines when MONITORING_PIPELINE_LOG_FORMAT=json


def _register() -> None:
    from monitoring_pipeline.cli import alert_delivery, alerts, database, demo, fakes, prod_local, serve, status

    for command in alert_delivery.ALERTS_SUBCOMMANDS:  # `alerts deliveries`, `alerts test`
        alerts.alerts.add_command(command)
    for module in (fakes, demo, database, status, alerts, serve, prod_local):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
