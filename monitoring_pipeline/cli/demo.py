"""`monitoring-pipeline demo`: the seeded emulator, the sandbox and `dagster dev` wired to both."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from monitoring_pipeline.cli.fakes import emulator_config, emulator_options, load_scenario_file
from monitoring_pipeline.dnb.emulator import EmulatorServer
from monitoring_pipeline.dnb.emulator.demo import seed_demo
from monitoring_pipeline.sandbox import SandboxConfig, SandboxServer
from monitoring_pipeline.settings import ENV_PARTITIONS_START, PROJECT_ROOT, recorded_first_day

PROJECT_DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"
DEMO_SANDBOX_SCENARIO = PROJECT_ROOT / "config" / "sandbox.demo.yaml"
DEMO_INTEGRATIONS_CONFIG = PROJECT_ROOT / "config" / "integrations.demo.yaml"
SANDBOX_OAUTH_SECRET_ENV = "SANDBOX_OAUTH_CLIENT_SECRET"
DEMO_SANDBOX_OAUTH_CLIENT = "demo-client"
DEMO_API_KEY_ENV = "CLEARBIT_API_KEY"  # read by config/integrations.demo.yaml


@click.command()
@emulator_options
@click.option("--emulator-port", type=int, default=8765, show_default=True)
@click.option("--sandbox-port", type=int, default=8766, show_default=True, help="Port of the integration sandbox.")
@click.option("--dagster-port", type=int, default=3000, show_default=True)
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dagster_home"),
    show_default=True,
    help="Dagster instance directory; kept across restarts.",
)
@click.option("--no-dagster", is_flag=True, help="Only run the seeded emulator and the sandbox.")
def demo(host: str, client_id: str, client_secret: str, rate_limit: float, retry_after: float | None,
         token_lifetime: int, emulator_port: int, sandbox_port: int, dagster_port: int, dagster_home: Path,
         no_dagster: bool) -> None:
    """The demo: a seeded D&B emulator, the integration sandbox and `dagster dev` wired to both."""
    # A service manager's SIGTERM stops the demo like Ctrl-C does: dagster dev is asked to stop, not orphaned.
    # SIGINT gets a handler too: started in the background it is inherited as ignored, and dagster dev, which
    # inherits it, would then ignore the stop it is sent.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    scenario = load_scenario_file(DEMO_SANDBOX_SCENARIO)
    config = emulator_config(client_id, client_secret, rate_limit, retry_after, token_lifetime)
    server = EmulatorServer(config, host=host, port=emulator_port).start()
    try:
        seed_demo(server.state)
        click.echo(f"D&B emulator on {server.url} with demo registrations and live streams")
        with SandboxServer(scenario, host=host, port=sandbox_port) as sandbox_server:
            click.echo(
                f"Integration sandbox on {sandbox_server.url} with {len(scenario.endpoints)} endpoints "
                f"({DEMO_SANDBOX_SCENARIO.name}; admin API under {sandbox_server.url}/_sandbox/)"
            )
            if no_dagster:
                _wait_for_interrupt()
            else:
                services = demo_services_environment(server.url, client_id, client_secret, sandbox_server.url, scenario)
                _run_dagster_dev(services, dagster_home, dagster_port)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM, whenever it comes: a normal stop, not click's "Aborted!"
    finally:
        server.stop()


def demo_services_environment(emulator_url: str, client_id: str, client_secret: str, sandbox_url: str,
                              scenario: SandboxConfig) -> dict[str, str]:
    """What `dagster dev` needs to reach the demo's emulator and sandbox."""
    env = {
        "DNB_BASE_URL": emulator_url,
        "DNB_CLIENT_ID": client_id,
        "DNB_CLIENT_SECRET": client_secret,
        "SANDBOX_URL": sandbox_url,
        "INTEGRATIONS_CONFIG": os.environ.get("INTEGRATIONS_CONFIG", str(DEMO_INTEGRATIONS_CONFIG)),
    }
    # The probes authenticate with the secret the sandbox was given (its environment, else the default).
    oauth_secret = scenario.oauth_clients.get(DEMO_SANDBOX_OAUTH_CLIENT)
    if oauth_secret is not None:
        env[SANDBOX_OAUTH_SECRET_ENV] = oauth_secret.get_secret_value()
    # The demo's API key (clearbit): the one the sandbox endpoint expects, unless the environment sets one.
    api_key = next((e.auth_token for e in scenario.endpoints if e.name == "clearbit" and e.auth_token), None)
    if api_key is not None:
        env[DEMO_API_KEY_ENV] = os.environ.get(DEMO_API_KEY_ENV) or api_key.get_secret_value()
    return env


def _run_dagster_dev(services: dict[str, str], dagster_home: Path, port: int) -> None:
    home = dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if PROJECT_DAGSTER_YAML.exists():
        shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    env = {
        **os.environ,
        **services,
        "DAGSTER_HOME": str(home),
        "MONITORING_PIPELINE_HOME": str(home / "monitoring_pipeline"),
        # Files land where a newcomer looks for them; runs follow new notifications within a minute.
        "MONITORING_PIPELINE_DATA_DIR": os.environ.get("MONITORING_PIPELINE_DATA_DIR", str(Path("data").resolve())),
        "DNB_RUN_INTERVAL_SECONDS": os.environ.get("DNB_RUN_INTERVAL_SECONDS", "60"),
        "NOTIFICATION_FORMATS": os.environ.get("NOTIFICATION_FORMATS", "json,csv,parquet"),
        # The emulator holds nothing older than the demo's first day: no empty partitions before it.
        ENV_PARTITIONS_START: os.environ.get(ENV_PARTITIONS_START)
        or recorded_first_day(home / "monitoring_pipeline").isoformat(),
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


COMMANDS = [demo]
