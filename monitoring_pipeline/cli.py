"""`monitoring-pipeline ...`: the project's command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from monitoring_pipeline.dnb.emulator import EmulatorConfig, EmulatorServer
from monitoring_pipeline.dnb.emulator.demo import seed_demo

DEMO_CLIENT_ID = "demo-key"
DEMO_CLIENT_SECRET = "demo-secret"  # the emulator's own demo credential, not a real one
PROJECT_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


@click.group()
def main() -> None:
    """Monitoring pipeline: D&B Direct+ monitoring, integration health and alerting on Dagster."""


def _emulator_options(func):  # type: ignore[no-untyped-def]
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
        click.option("--client-id", envvar="DNB_CLIENT_ID", default=DEMO_CLIENT_ID, show_default=True),
        click.option(
            "--client-secret",
            envvar="DNB_CLIENT_SECRET",
            default=DEMO_CLIENT_SECRET,
            help="Consumer secret the emulator accepts [env DNB_CLIENT_SECRET].",
        ),
        click.option(
            "--rate-limit",
            type=float,
            default=5.0,
            show_default=True,
            help="Calls per second per consumer key; 0 turns the limit off.",
        ),
        click.option("--retry-after", type=float, default=None, help="Send Retry-After (seconds) with 429s."),
        click.option("--token-lifetime", type=int, default=86400, show_default=True, help="Token lifetime (s)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _emulator_config(client_id: str, client_secret: str, rate_limit: float, retry_after: float | None,
                     token_lifetime: int) -> EmulatorConfig:
    return EmulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        rate_limit_per_second=rate_limit or None,
        retry_after_seconds=retry_after,
        token_lifetime_seconds=token_lifetime,
    )


@main.command()
@_emulator_options
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--seed-demo", is_flag=True, help="Create demo registrations with a backlog and a live stream.")
def emulator(host: str, port: int, client_id: str, client_secret: str, rate_limit: float,
             retry_after: float | None, token_lifetime: int, seed_demo: bool) -> None:
    """Run the D&B Direct+ emulator (a real HTTP server) until interrupted."""
    from monitoring_pipeline.dnb.emulator.server import serve_forever

    config = _emulator_config(client_id, client_secret, rate_limit, retry_after, token_lifetime)
    serve_forever(config, host=host, port=port, seed_demo=seed_demo)


@main.command()
@_emulator_options
@click.option("--emulator-port", type=int, default=8765, show_default=True)
@click.option("--dagster-port", type=int, default=3000, show_default=True)
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dagster_home"),
    show_default=True,
    help="Dagster instance directory; kept across restarts.",
)
@click.option("--no-dagster", is_flag=True, help="Only run the seeded emulator.")
def demo(host: str, client_id: str, client_secret: str, rate_limit: float, retry_after: float | None,
         token_lifetime: int, emulator_port: int, dagster_port: int, dagster_home: Path, no_dagster: bool) -> None:
    """The demo: a seeded D&B emulator with live notification streams and `dagster dev` wired to it."""
    config = _emulator_config(client_id, client_secret, rate_limit, retry_after, token_lifetime)
    server = EmulatorServer(config, host=host, port=emulator_port).start()
    seed_demo(server.state)
    click.echo(f"D&B emulator on {server.url} with demo registrations and live streams")
    try:
        if no_dagster:
            _wait_for_interrupt()
        else:
            _run_dagster_dev(server.url, client_id, client_secret, dagster_home, dagster_port)
    finally:
        server.stop()


def _run_dagster_dev(emulator_url: str, client_id: str, client_secret: str, dagster_home: Path, port: int) -> None:
    home = dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if PROJECT_DAGSTER_YAML.exists():
        shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DNB_BASE_URL": emulator_url,
        "DNB_CLIENT_ID": client_id,
        "DNB_CLIENT_SECRET": client_secret,
        "MONITORING_PIPELINE_HOME": str(home / "monitoring_pipeline"),
        # Files land where a newcomer looks for them; runs follow new notifications within a minute.
        "MONITORING_PIPELINE_DATA_DIR": os.environ.get("MONITORING_PIPELINE_DATA_DIR", str(Path("data").resolve())),
        "DNB_RUN_INTERVAL_SECONDS": os.environ.get("DNB_RUN_INTERVAL_SECONDS", "60"),
        "NOTIFICATION_FORMATS": os.environ.get("NOTIFICATION_FORMATS", "json,csv,parquet"),
    }
    command = [sys.executable, "-m", "dagster", "dev", "-m", "monitoring_pipeline.definitions", "-p", str(port)]
    click.echo(f"Starting Dagster on http://127.0.0.1:{port} (DAGSTER_HOME={home})")
    # Run from DAGSTER_HOME so Dagster uses the dagster.yaml copied there (and warns about no other).
    process = subprocess.Popen(command, env=env, cwd=home)
    try:
        process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@main.group()
def db() -> None:
    """The project database (DATABASE_URL, else the SQLite file under MONITORING_PIPELINE_HOME)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (also done automatically on first use)."""
    from sqlalchemy.engine import make_url

    from monitoring_pipeline.settings import NotificationSettings
    from monitoring_pipeline.storage.database import create_db_engine, migrate

    url = NotificationSettings.from_env().database_url
    engine = create_db_engine(url)
    migrate(engine)
    click.echo(f"database at {make_url(url).render_as_string(hide_password=True)} is up to date")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def status(as_json: bool) -> None:
    """The service's state: each destination (last success, last error, files stored), the D&B token
    (valid? expires in; never the token itself), registrations and their last pull."""
    import json

    from monitoring_pipeline.destinations.config import default_destinations_file, load_destinations
    from monitoring_pipeline.notifications.registrations import default_registrations_dir
    from monitoring_pipeline.service_status import collect_status, render_text
    from monitoring_pipeline.settings import NotificationSettings, state_dir
    from monitoring_pipeline.storage.database import shared_engine

    settings = NotificationSettings.from_env()
    report = collect_status(
        shared_engine(settings.database_url),
        load_destinations(default_destinations_file()),
        settings.data_dir,
        state_dir(),
        default_registrations_dir(),
    )
    click.echo(json.dumps(report, indent=2) if as_json else render_text(report))


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
