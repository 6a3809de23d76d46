"""`monitoring-pipeline demo`: the seeded emulator, the sandbox and `dagster dev` wired to both."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from secrets import token_urlsafe

import click

from monitoring_pipeline.cli.demo_console import TIME_FORMAT, RunNarrator, wait_for_ui
from monitoring_pipeline.cli.demo_env import DemoEnvFile, forget_leftovers, settings_of
from monitoring_pipeline.cli.fakes import DEMO_CLIENT_SECRET, emulator_config, emulator_options, load_scenario_file
from monitoring_pipeline.fakes.dnb_emulator import EmulatorServer
from monitoring_pipeline.fakes.dnb_emulator.demo import seed_demo
from monitoring_pipeline.fakes.inbox import LocalInbox
from monitoring_pipeline.fakes.sandbox import SandboxConfig, SandboxServer
from monitoring_pipeline.integrations.heartbeat import DEMO_PUSH_TOKEN_ENV, new_token, start_demo_heartbeat
from monitoring_pipeline.settings import ENV_OPS_CONFIG, ENV_PARTITIONS_START, PROJECT_ROOT, recorded_first_day

PROJECT_DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"
DEMO_SANDBOX_SCENARIO = PROJECT_ROOT / "config" / "sandbox.demo.yaml"
DEMO_INTEGRATIONS_CONFIG = PROJECT_ROOT / "config" / "integrations.demo.yaml"
DEMO_ALERTING_CONFIG = PROJECT_ROOT / "config" / "alerting.demo.yaml"
DEMO_OPS_CONFIG = PROJECT_ROOT / "config" / "ops.demo.yaml"
OPS_SIGNING_KEY_ENV = "OPS_ACK_SIGNING_KEY"  # the ops file's defaults (acknowledgement.signing_key_env, ...)
OPS_TOKEN_ENV = "OPS_API_TOKEN"  # ... service.token_env)
SANDBOX_OAUTH_SECRET_ENV = "SANDBOX_OAUTH_CLIENT_SECRET"
DEMO_SANDBOX_OAUTH_CLIENT = "demo-client"
DEMO_API_KEY_ENV = "CLEARBIT_API_KEY"  # read by config/integrations.demo.yaml
# `dagster dev` is what this Dagster version calls superseded by `dg dev` (of another package): no news for a newcomer.
QUIET_WARNINGS = "ignore:Function `dev_command` is superseded"
# The local inbox's stand-ins for channel secrets: published demo values, fine to write to ./.env.
INBOX_SECRETS = ("DEMO_SLACK_WEBHOOK_URL", "DEMO_DISCORD_WEBHOOK_URL", "DEMO_TEAMS_WEBHOOK_URL",
                 "DEMO_PAGERDUTY_ROUTING_KEY", "DEMO_TWILIO_AUTH_TOKEN", "DEMO_WEBHOOK_SECRET")


@click.command()
@emulator_options
@click.option("--emulator-port", type=int, default=8765, show_default=True)
@click.option("--sandbox-port", type=int, default=8766, show_default=True, help="Port of the integration sandbox.")
@click.option("--inbox-port", type=int, default=8768, show_default=True,
              help="Port of the local inbox's webhook receiver (alert notifications, written under ./data/inbox/).")
@click.option("--smtp-port", type=int, default=8025, show_default=True, help="Port of the local inbox's SMTP server.")
@click.option("--dagster-port", type=int, default=3000, show_default=True)
@click.option("--ops-port", type=int, default=8767, show_default=True, help="Port of the ops service (status page).")
@click.option(
    "--dagster-home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dagster_home"),
    show_default=True,
    help="Dagster instance directory; kept across restarts.",
)
@click.option("--no-dagster", is_flag=True, help="Only run the seeded emulator and the sandbox.")
def demo(host: str, client_id: str, client_secret: str, rate_limit: float, retry_after: float | None,
         token_lifetime: int, emulator_port: int, sandbox_port: int, inbox_port: int, smtp_port: int,
         dagster_port: int, ops_port: int, dagster_home: Path, no_dagster: bool) -> None:
    """The demo: a seeded D&B emulator, the integration sandbox and `dagster dev` wired to both."""
    # A service manager's SIGTERM stops the demo like Ctrl-C does: dagster dev is asked to stop, not orphaned.
    # SIGINT gets a handler too: started in the background it is inherited as ignored, and dagster dev, which
    # inherits it, would then ignore the stop it is sent.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _log_like_dagster()
    # The CLI loaded ./.env; a leftover of a demo that was killed must not configure this one.
    forget_leftovers()
    scenario = load_scenario_file(DEMO_SANDBOX_SCENARIO)
    config = emulator_config(client_id, client_secret, rate_limit, retry_after, token_lifetime)
    home = dagster_home.resolve()
    env_file = DemoEnvFile()
    server = EmulatorServer(config, host=host, port=emulator_port).start()
    try:
        seed_demo(server.state)
        click.echo(f"D&B emulator on {server.url} with demo registrations and live streams")
        with SandboxServer(scenario, host=host, port=sandbox_port) as sandbox_server, \
                LocalInbox(Path("data/inbox").resolve(), host, inbox_port, smtp_port) as inbox:
            click.echo(
                f"Integration sandbox on {sandbox_server.url} with {len(scenario.endpoints)} endpoints "
                f"({DEMO_SANDBOX_SCENARIO.name}; admin API under {sandbox_server.url}/_sandbox/)"
            )
            click.echo(f"Local inbox: webhooks on {inbox.receiver.url}, SMTP on {host}:{inbox.mail.port}; "
                       f"alert notifications are written to {inbox.directory}/ (index.txt lists them)")
            services = demo_services_environment(server.url, client_id, client_secret, sandbox_server.url, scenario)
            settings = {**services, **inbox.environment(), **demo_settings(home), **ops_environment(host, ops_port)}
            secrets = {**demo_secrets(settings, client_secret), **dict.fromkeys(INBOX_SECRETS, True)}
            try:
                click.echo(env_file.write(settings_of(settings, secrets)))
                if no_dagster:
                    _wait_for_interrupt()
                else:
                    _run_dagster_dev(settings, home, dagster_port, ops_port)
            finally:
                note = env_file.remove()
                if note:
                    click.echo(note)
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
        "ALERTING_CONFIG": os.environ.get("ALERTING_CONFIG", str(DEMO_ALERTING_CONFIG)),
    }
    # The probes authenticate with the secret the sandbox was given (its environment, else the default).
    oauth_secret = scenario.oauth_clients.get(DEMO_SANDBOX_OAUTH_CLIENT)
    if oauth_secret is not None:
        env[SANDBOX_OAUTH_SECRET_ENV] = oauth_secret.get_secret_value()
    # The demo's API key (clearbit): the one the sandbox endpoint expects, unless the environment sets one.
    api_key = next((e.auth_token for e in scenario.endpoints if e.name == "clearbit" and e.auth_token), None)
    if api_key is not None:
        env[DEMO_API_KEY_ENV] = os.environ.get(DEMO_API_KEY_ENV) or api_key.get_secret_value()
    # The push heartbeat's token (nightly_export): the demo's heartbeat job pings the ops service with it.
    env[DEMO_PUSH_TOKEN_ENV] = os.environ.get(DEMO_PUSH_TOKEN_ENV) or new_token()
    return env


def ops_environment(host: str, port: int) -> dict[str, str]:
    """The demo's ops service: its file, the address its links point at, and the keys it signs acknowledgement
    links and accepts writes with (made up for this demo unless the environment gives them)."""
    return {
        ENV_OPS_CONFIG: os.environ.get(ENV_OPS_CONFIG, str(DEMO_OPS_CONFIG)),
        "OPS_PUBLIC_URL": f"http://{host}:{port}",
        OPS_SIGNING_KEY_ENV: os.environ.get(OPS_SIGNING_KEY_ENV) or token_urlsafe(32),
        OPS_TOKEN_ENV: os.environ.get(OPS_TOKEN_ENV) or token_urlsafe(24),
    }


def demo_settings(dagster_home: Path) -> dict[str, str]:
    """Where the demo keeps its state and files, and how often it runs: for `dagster dev` and ./.env."""
    return {
        "DAGSTER_HOME": str(dagster_home),
        "MONITORING_PIPELINE_HOME": str(dagster_home / "monitoring_pipeline"),
        # Files land where a newcomer looks for them; runs follow new notifications within a minute.
        "MONITORING_PIPELINE_DATA_DIR": os.environ.get("MONITORING_PIPELINE_DATA_DIR", str(Path("data").resolve())),
        "DNB_RUN_INTERVAL_SECONDS": os.environ.get("DNB_RUN_INTERVAL_SECONDS", "60"),
        "NOTIFICATION_FORMATS": os.environ.get("NOTIFICATION_FORMATS", "json,csv,parquet"),
        # The emulator holds nothing older than the demo's first day: no empty partitions before it.
        ENV_PARTITIONS_START: os.environ.get(ENV_PARTITIONS_START)
        or recorded_first_day(dagster_home / "monitoring_pipeline").isoformat(),
    }


def demo_secrets(settings: dict[str, str], client_secret: str) -> dict[str, bool]:
    """The secrets among ``settings``, each with whether it is the demo's own published value (then it may be
    written to ./.env) rather than one from the user's environment or command line (then it may not)."""
    secrets = {"DNB_CLIENT_SECRET": client_secret == DEMO_CLIENT_SECRET}
    if SANDBOX_OAUTH_SECRET_ENV in settings:
        secrets[SANDBOX_OAUTH_SECRET_ENV] = not os.environ.get(SANDBOX_OAUTH_SECRET_ENV)
    if DEMO_API_KEY_ENV in settings:
        secrets[DEMO_API_KEY_ENV] = not os.environ.get(DEMO_API_KEY_ENV)
    for made_up in (DEMO_PUSH_TOKEN_ENV, OPS_SIGNING_KEY_ENV, OPS_TOKEN_ENV):  # unless the environment gives one
        if made_up in settings:
            secrets[made_up] = not os.environ.get(made_up)
    return secrets


def _run_dagster_dev(settings: dict[str, str], home: Path, port: int, ops_port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    if PROJECT_DAGSTER_YAML.exists():
        shutil.copyfile(PROJECT_DAGSTER_YAML, home / "dagster.yaml")
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), QUIET_WARNINGS]))
    env = {**os.environ, **settings, "PYTHONWARNINGS": warnings}
    # Warnings and errors only from the webserver and daemons: the run lines below say what they launch.
    command = [sys.executable, "-m", "dagster", "dev", "-m", "monitoring_pipeline.definitions", "-p", str(port),
               "--log-level", "warning"]
    ui_url = f"http://127.0.0.1:{port}"
    click.echo(f"Starting Dagster (DAGSTER_HOME={home}) ...")
    started = datetime.now(UTC)
    # The ops service reads the same project database: the status page, /metrics and the API.
    ops = subprocess.Popen([sys.executable, "-m", "monitoring_pipeline.cli", "serve", "--port", str(ops_port)],
                           env=env)
    click.echo(f"Ops service (status page, /metrics, /api/v1) on http://127.0.0.1:{ops_port}")
    # The demo's "nightly export" job: pings its push heartbeat (and now and then misses or fails).
    heartbeat = start_demo_heartbeat(f"http://127.0.0.1:{ops_port}", settings[DEMO_PUSH_TOKEN_ENV])
    # Run from DAGSTER_HOME so Dagster uses the dagster.yaml copied there (and warns about no other).
    # Its own process group: whatever it leaves behind (its code server, a run's step processes) is stopped with it.
    process = subprocess.Popen(command, env=env, cwd=home, start_new_session=True)
    narrator = RunNarrator(home, ui_url, since=started)
    children = (process, ops)
    try:
        if wait_for_ui(ui_url, lambda: process.poll() is None):
            click.echo(f"Dagster is up: open {ui_url} (Ctrl-C stops the demo). Below: what the sensors land and "
                       f"probe, each run as it starts and ends, and any warning or error.")
            narrator.start()
        process.wait()
    except KeyboardInterrupt:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    finally:
        narrator.stop()
        heartbeat.stop()
        if ops.poll() is None:
            ops.terminate()
        _stop_group(process.pid)


def _stop_group(group: int) -> None:
    """End what is left of `dagster dev`'s process group: a code server or run process it did not stop in time
    would otherwise go on working (and writing) after the demo has said it stopped."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def _log_like_dagster() -> None:
    """The demo's own log lines (the emulator's, the sandbox's) in the form of Dagster's, warnings and errors only."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s",
                        datefmt=TIME_FORMAT)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


COMMANDS = [demo]
