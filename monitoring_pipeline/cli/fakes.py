"""The fake servers: the D&B Direct+ emulator and the integration sandbox."""

from __future__ import annotations

from pathlib import Path

import click

from monitoring_pipeline.fakes.dnb_emulator import EmulatorConfig
from monitoring_pipeline.fakes.sandbox import SandboxConfig, ScenarioError, load_scenario

DEMO_CLIENT_ID = "demo-key"
DEMO_CLIENT_SECRET = "demo-secret"  # the emulator's own demo credential, not a real one
_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def emulator_options(func):  # type: ignore[no-untyped-def]
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


def emulator_config(client_id: str, client_secret: str, rate_limit: float, retry_after: float | None,
                     token_lifetime: int) -> EmulatorConfig:
    return EmulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        rate_limit_per_second=rate_limit or None,
        retry_after_seconds=retry_after,
        token_lifetime_seconds=token_lifetime,
    )


@click.command()
@emulator_options
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--seed-demo", is_flag=True, help="Create demo registrations with a backlog and a live stream.")
def emulator(host: str, port: int, client_id: str, client_secret: str, rate_limit: float,
             retry_after: float | None, token_lifetime: int, seed_demo: bool) -> None:
    """Run the D&B Direct+ emulator (a real HTTP server) until interrupted."""
    from monitoring_pipeline.fakes.dnb_emulator.server import serve_forever

    config = emulator_config(client_id, client_secret, rate_limit, retry_after, token_lifetime)
    serve_forever(config, host=host, port=port, seed_demo=seed_demo)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8766, show_default=True, help="Port to listen on (0: any free port).")
@click.option(
    "--scenario",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML scenario of endpoints and OAuth clients to start with, e.g. config/sandbox.demo.yaml "
    "(default: none; add endpoints through the /_sandbox admin API).",
)
@click.option("--tls-cert", type=_PEM_FILE, help="Serve HTTPS with this PEM certificate.")
@click.option("--tls-key", type=_PEM_FILE, help="PEM private key of --tls-cert.")
@click.option(
    "--http",
    type=click.Choice(["auto", "h11", "httptools"]),
    default="auto",
    show_default=True,
    help="HTTP parser (auto: httptools when installed).",
)
def sandbox(host: str, port: int, scenario: Path | None, tls_cert: Path | None, tls_key: Path | None,
            http: str) -> None:
    """Run the integration sandbox: fake third-party endpoints with programmable behaviour, until interrupted."""
    from monitoring_pipeline.fakes.sandbox.server import serve_forever

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    config = load_scenario_file(scenario) if scenario is not None else None
    serve_forever(config, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, http=http,
                  source=str(scenario) if scenario is not None else None)


def load_scenario_file(path: Path) -> SandboxConfig:
    try:
        return load_scenario(path)
    except ScenarioError as error:
        raise click.ClickException(str(error)) from None


COMMANDS = [emulator, sandbox]
