"""`monitoring-pipeline prod-init` and `prod-local`: the production deployment's init step, and the whole topology
run as processes on this machine (PostgreSQL storage, a code server, the webserver, the daemon, the ops service)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click

# Variables the production instance and the project need (dagster.production.yaml names the DAGSTER_PG_* ones).
REQUIRED = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB",
            "DATABASE_URL")


@click.command("prod-init")
def prod_init() -> None:
    """Prepare a production deployment (run once before the other services, and after each upgrade): migrate the
    project database and Dagster's storage, and set the pool limits (DNB_POOL_LIMIT for `dnb_api`,
    DESTINATION_POOL_LIMIT for each `destination_<name>`)."""
    import dagster as dg
    from sqlalchemy.engine import make_url

    from monitoring_pipeline.defs.dnb.specs import DNB_POOL
    from monitoring_pipeline.destinations.config import load_destinations
    from monitoring_pipeline.settings import ProjectSettings
    from monitoring_pipeline.storage.database import create_db_engine, migrate

    settings = ProjectSettings.from_env()
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    engine.dispose()
    click.echo(f"project database {make_url(settings.database_url).render_as_string(hide_password=True)} "
               "is up to date")
    with dg.DagsterInstance.get() as instance:
        instance.upgrade()
        # The same pool names the assets declare (defs/dnb/specs.py, defs/dnb/destinations.py).
        limits = {DNB_POOL: settings.dnb_pool_limit}
        for name in load_destinations(settings.destinations_file, settings).enabled:
            limits[f"destination_{name}"] = settings.destination_pool_limit
        for pool, limit in limits.items():
            instance.event_log_storage.set_concurrency_slots(pool, limit)
        click.echo("Dagster storage is up to date; pools: "
                   + ", ".join(f"{pool}={limit}" for pool, limit in limits.items()))


@click.command("prod-local")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".dagster_prod"),
              show_default=True, help="DAGSTER_HOME: the instance and workspace files, and each process's log.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface every process listens on.")
@click.option("--webserver-port", type=int, default=3000, show_default=True)
@click.option("--code-server-port", type=int, default=4000, show_default=True,
              help="Port of the (first) code server; a split deployment uses the next one too.")
@click.option("--ops-port", type=int, default=8767, show_default=True)
@click.option("--split", is_flag=True, help="Two code locations (dnb, integrations) instead of one.")
@click.option("--max-run-seconds", type=click.IntRange(60), default=3600, show_default=True,
              help="A run still going after this long is failed (then retried by the run-retry policy).")
def prod_local(home: Path, host: str, webserver_port: int, code_server_port: int, ops_port: int, split: bool,
               max_run_seconds: int) -> None:
    """The production topology as processes on this machine, until Ctrl-C: the init step, the code server(s)
    (`dagster api grpc`), `dagster-webserver`, `dagster-daemon run` and the ops service (`monitoring-pipeline
    serve`, when this build has it), with Dagster's storage and the project database on PostgreSQL. Needs
    DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB and DATABASE_URL."""
    import os

    from monitoring_pipeline.production.supervisor import LocalTopology, TopologyError
    from monitoring_pipeline.production.topology import SINGLE_LOCATION, SPLIT_LOCATIONS

    missing = [name for name in REQUIRED if name not in os.environ]
    if missing:
        raise click.UsageError(f"set {', '.join(missing)} (see dagster.production.yaml and docs/production.md)")
    locations = SPLIT_LOCATIONS if split else SINGLE_LOCATION
    ports = {location.name: code_server_port + i for i, location in enumerate(locations)}
    topology = LocalTopology(home=home, environment=dict(os.environ), locations=locations, host=host,
                             webserver_port=webserver_port, ops_port=ops_port, code_server_ports=ports,
                             max_run_seconds=max_run_seconds, announce=click.echo)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        topology.start()
        click.echo(f"Dagster UI on {topology.webserver_url}; Ctrl-C stops every process")
        while True:
            for name, process in list(topology.processes.items()):
                if process.poll() is not None:
                    click.echo(f"{name} exited with {process.returncode}; restarting it "
                               f"(log: {topology.log_dir / (name + '.log')})")
                    topology.processes.pop(name)
                    topology.start_service(name)
            time.sleep(2)
    except TopologyError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        click.echo("stopping every process")
    finally:
        topology.stop()


@click.command("prod-health")
@click.option("--service", envvar="MONITORING_PIPELINE_SERVICE", required=True,
              help="Which service to check (default: MONITORING_PIPELINE_SERVICE, set per container).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Default: the service's port in a container (the code server: "
                                                       "DAGSTER_GRPC_PORT).")
def prod_health(service: str, host: str, port: int | None) -> None:
    """The container health check (the image's HEALTHCHECK): exit 0 when the service answers: a code server its
    gRPC ping, the webserver /server_info, the ops service /health/live, the daemon a recent heartbeat of each of
    its daemons; a one-shot step (init) is healthy by definition."""
    import os

    from monitoring_pipeline.production.supervisor import service_answers
    from monitoring_pipeline.production.topology import CODE_SERVER_PORT, SPLIT_LOCATIONS, services

    known = {s.name: s for s in [*services(), *services(SPLIT_LOCATIONS)]}
    if service not in known:
        raise click.UsageError(f"--service: expected one of {', '.join(sorted(known))}, got {service!r}")
    checked = known[service]
    if checked.one_shot:
        return
    if checked.name == "daemon":
        import dagster as dg
        from dagster._daemon.controller import all_daemons_live

        with dg.DagsterInstance.get() as instance:
            healthy = all_daemons_live(instance, heartbeat_tolerance_seconds=300)
    else:
        default = int(os.environ.get("DAGSTER_GRPC_PORT", CODE_SERVER_PORT)) if checked.location else checked.port
        healthy = service_answers(checked, host, port or default)  # type: ignore[arg-type]
    if not healthy:
        raise click.ClickException(f"{service} does not answer")
    click.echo(f"{service} is healthy")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


COMMANDS = [prod_init, prod_local, prod_health]
