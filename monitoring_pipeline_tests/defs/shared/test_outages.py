"""A project database outage during a sensor tick: one clear line, counted, retried next tick, nothing lost.

PostgreSQL: a cluster of the test's own, really stopped and started again (and its connections terminated).
SQLite: a database file that cannot be opened. Every sensor of the project goes through the same helper.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, exc, select, text

from monitoring_pipeline.defs.dnb.resources import DnbApiResource
from monitoring_pipeline.defs.dnb.sensors import build_catch_up_sensors, dnb_registration_sync_sensor
from monitoring_pipeline.defs.integrations.resources import IntegrationsResource
from monitoring_pipeline.defs.integrations.sensors import build_probe_sensor
from monitoring_pipeline.defs.shared.outages import (
    OutageCount,
    describe_outage,
    is_database_outage,
    join_cursor,
    split_cursor,
)
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.destinations.config import SftpConfig
from monitoring_pipeline.integrations.config import load_integrations
from monitoring_pipeline.notifications import landing
from monitoring_pipeline.settings import PROJECT_ROOT
from monitoring_pipeline.storage.database import create_db_engine
from monitoring_pipeline.storage.schema import dnb_landed_notifications
from monitoring_pipeline_tests.conftest import CLIENT_ID, CLIENT_SECRET
from monitoring_pipeline_tests.defs.dnb.pipeline import Pipeline, build_pipeline
from monitoring_pipeline_tests.defs.shared.private_postgres import PrivatePostgres
from monitoring_pipeline_tests.dnb.ground_truth import delivered_keys

REFERENCE = "OUTAGE_REF"
INTEGRATIONS_FILE = PROJECT_ROOT / "config" / "integrations.yaml"


# ---- the helper on its own ------------------------------------------------------------------------------


def test_a_sensors_own_cursor_is_kept_as_it_is_until_an_outage_is_counted():
    assert split_cursor('{"pending": []}') == ('{"pending": []}', OutageCount())
    assert split_cursor("plain-old-cursor") == ("plain-old-cursor", OutageCount())
    assert join_cursor("plain", OutageCount()) == "plain"
    wrapped = join_cursor('{"pending": []}', OutageCount(consecutive=2, total=5))
    assert split_cursor(wrapped) == ('{"pending": []}', OutageCount(2, 5))
    assert split_cursor(join_cursor(None, OutageCount(0, 1))) == (None, OutageCount(0, 1))


def test_only_failures_to_reach_the_database_count_as_an_outage():
    refused = exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused\nIs the server running?"))
    assert is_database_outage(refused)
    assert describe_outage(refused) == "ConnectionRefusedError: connection refused"
    assert not is_database_outage(exc.IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not is_database_outage(ValueError("a bug"))


# ---- real outages ----------------------------------------------------------------------------------------


@dataclass
class Outage:
    """A project database that can be made unavailable and available again, for real."""

    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def postgres_outage(cluster: PrivatePostgres) -> Iterator[Outage]:
    cluster.start()
    yield Outage(cluster.url, cluster.stop, cluster.start)
    cluster.start()
    engine = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:  # the next test starts from an empty database
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    from monitoring_pipeline.storage import database

    database._SHARED_ENGINES.pop(cluster.url, None)


@pytest.fixture
def sqlite_outage(tmp_path: Path) -> Outage:
    """SQLite whose file cannot be opened: a directory stands where the database file should be."""
    path = tmp_path / "unreachable" / "project.db"

    def stop() -> None:
        path.mkdir(parents=True, exist_ok=True)

    def start() -> None:
        path.rmdir()

    return Outage(f"sqlite:///{path}", stop, start)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def outage(request: pytest.FixtureRequest) -> Outage:
    return request.getfixturevalue(f"{request.param}_outage")


def _one_line_outage(result: dg.SensorResult) -> str:
    assert not result.run_requests
    reason = result.skip_reason.skip_message
    assert reason.startswith("project database unavailable (") and "\n" not in reason
    assert "Traceback" not in reason and "[SQL:" not in reason
    return reason


def _outages(result: dg.SensorResult) -> OutageCount:
    return split_cursor(result.cursor)[1]


def _landing_pipeline(emulator, url: str, tmp_path: Path) -> Pipeline:
    engine = create_db_engine(url)
    pipeline = build_pipeline(emulator.url, engine, tmp_path, [REFERENCE])
    # As deployed on PostgreSQL: the D&B token, rate limit and call counts go through the project database too.
    pipeline.resources["dnb"] = DnbApiResource(
        base_url=emulator.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, state_dir=str(tmp_path / "state"),
        rate_limit_per_second=45, database_url=url if url.startswith("postgresql") else None, calls_database_url=url,
    )
    pipeline.admin.create_registration(REFERENCE, subjects=["001017545", "213310873"])
    return pipeline


def _landed_keys(url: str) -> list[str]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(dnb_landed_notifications.c.notification_key)).scalars())
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_database_restarted_during_a_landing_tick_is_one_line_counted_and_healed(
    emulator, postgres_outage, tmp_path, monkeypatch, capfd
):
    pipeline = _landing_pipeline(emulator, postgres_outage.url, tmp_path)
    pipeline.admin.generate(REFERENCE, 500)  # five Pull pages
    real_land_page, pages = landing.land_page, []

    def land_then_lose_the_database(engine, page, **kwargs):  # type: ignore[no-untyped-def]
        pages.append(page)
        if len(pages) == 3:  # the third page was pulled (a destructive read) and is not written yet
            postgres_outage.stop()
        return real_land_page(engine, page, **kwargs)

    monkeypatch.setattr(landing, "land_page", land_then_lose_the_database)
    capfd.readouterr()
    cut = pipeline.tick()
    monkeypatch.undo()
    logged = capfd.readouterr().err

    reason = _one_line_outage(cut)
    assert "OperationalError" in reason and "1 in a row, 1 in all" in reason
    assert _outages(cut) == OutageCount(1, 1)
    assert "Traceback" not in logged  # the tick and the resource teardown: one line each
    assert "recording the D&B calls made skipped: project database unavailable" in logged

    pipeline.admin.generate(REFERENCE, 50)  # D&B goes on while the database is down
    still_down = pipeline.tick(cut.cursor)
    assert _outages(still_down) == OutageCount(2, 2) and "2 in a row" in _one_line_outage(still_down)

    postgres_outage.start()
    healed = pipeline.tick(still_down.cursor)

    assert healed.run_requests and _outages(healed) == OutageCount(0, 2)
    assert json.loads(split_cursor(healed.cursor)[0])["requested"]  # the landing cursor went on as before
    landed = _landed_keys(postgres_outage.url)
    # The page pulled but never written came back by replay; nothing landed twice, nothing lost.
    assert Counter(landed) == delivered_keys(pipeline.admin, REFERENCE) and len(landed) == 550


@pytest.mark.postgres
def test_terminated_connections_are_replaced_without_an_outage(emulator, postgres_outage, tmp_path):
    pipeline = _landing_pipeline(emulator, postgres_outage.url, tmp_path)
    pipeline.admin.generate(REFERENCE, 100)
    first = pipeline.tick()
    admin = create_engine(postgres_outage.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        terminated = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )).scalar_one()
    admin.dispose()
    assert terminated > 0
    pipeline.admin.generate(REFERENCE, 100)

    second = pipeline.tick(first.cursor)

    assert second.skip_reason is None or "unavailable" not in second.skip_reason.skip_message
    assert len(_landed_keys(postgres_outage.url)) == 200


def test_the_landing_sensor_waits_out_a_database_that_cannot_be_reached(emulator, outage, tmp_path):
    pipeline = _landing_pipeline(emulator, outage.url, tmp_path)
    pipeline.admin.generate(REFERENCE, 100)
    outage.stop()

    down = pipeline.tick()

    _one_line_outage(down)
    outage.start()
    up = pipeline.tick(down.cursor)
    assert up.run_requests and _outages(up) == OutageCount(0, 1)
    assert len(_landed_keys(outage.url)) == 100


def test_every_other_sensor_skips_its_tick_in_one_line_and_works_once_the_database_is_back(outage, tmp_path):
    registrations = tmp_path / "registrations"
    registrations.mkdir()
    (registrations / "outage.yaml").write_text(
        f"reference: {REFERENCE}\nproductId: cmpelk\nportfolio: ['001017545']\napplyTransfers: true\n"
    )
    resources = {
        "database": ProjectDatabaseResource(url=outage.url),
        "registrations": _registrations_resource(registrations),
        "integrations": IntegrationsResource(path=str(INTEGRATIONS_FILE), state_dir=str(tmp_path / "state")),
    }
    sftp = SftpConfig(type="sftp", host="127.0.0.1", port=22, username="u", remote_base_path="/x",
                      insecure_accept_any_host_key=True)
    [catch_up] = build_catch_up_sensors({"sftp": sftp})
    sensors = {
        "dnb_registration_sync_sensor": dnb_registration_sync_sensor,
        "destination_catch_up_sensor": catch_up,
        "integration_probe_sensor": build_probe_sensor(load_integrations(INTEGRATIONS_FILE)),
    }
    outage.stop()
    cursors = {}
    for name, sensor in sensors.items():
        with dg.build_sensor_context(resources=resources) as context:
            result = sensor(context)
        _one_line_outage(result)
        cursors[name] = result.cursor

    outage.start()
    for name, sensor in sensors.items():
        with dg.build_sensor_context(cursor=cursors[name], resources=resources) as context:
            result = sensor(context)
        assert _outages(result) == OutageCount(0, 1), name
        assert result.skip_reason is None or "unavailable" not in result.skip_reason.skip_message, name
    with dg.build_sensor_context(cursor=cursors["dnb_registration_sync_sensor"], resources=resources) as context:
        assert dnb_registration_sync_sensor(context).run_requests  # the sync it could not ask for before


@pytest.mark.postgres
def test_a_resource_teardown_during_an_outage_logs_one_line_and_does_not_fail(emulator, postgres_outage, tmp_path,
                                                                              capfd):
    resource = DnbApiResource(base_url=emulator.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                              state_dir=str(tmp_path / "state"), calls_database_url=postgres_outage.url)
    resource.get_client().list_registrations()  # one call to record
    postgres_outage.stop()
    capfd.readouterr()

    resource.teardown_after_execution(dg.build_init_resource_context())  # no exception

    logged = capfd.readouterr().err
    [line] = [line for line in logged.splitlines() if "recording the D&B calls" in line]
    assert line.endswith("recording the D&B calls made skipped: project database unavailable (OperationalError: "
                         f'connection to server at "127.0.0.1", port {postgres_outage.url.split(":")[2].split("/")[0]}'
                         " failed: Connection refused)")
    assert "Traceback" not in logged


def _registrations_resource(directory: Path):  # type: ignore[no-untyped-def]
    from monitoring_pipeline.defs.dnb.resources import RegistrationsResource

    return RegistrationsResource(directory=str(directory))
