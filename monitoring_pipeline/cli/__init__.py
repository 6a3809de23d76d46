"""`monitoring-pipeline ...`: the project's command line, one module per group of commands."""

from __future__ import annotations

import click

from monitoring_pipeline.settings import load_env_file


@click.group()
def main() -> None:
    """Monitoring pipeline: D&B Direct+ monitoring, integration health and alerting on Dagster."""
    # What the demo or the operator wrote in ./.env applies to every command, as it does to `dagster dev`.
    load_env_file()


def _register() -> None:
    from monitoring_pipeline.cli import alerts, database, demo, fakes, status

    for module in (fakes, demo, database, status, alerts):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
