"""dnb_registration_sync_sensor: its cursor and its dedup. A sync is requested when what the registration files
declare changes (portfolio files included) and when a new TRANSFER waits for a registration that applies them;
never twice for the same state, always again for a change, even back to an earlier state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import insert, update

from monitoring_pipeline.defs.dnb.resources import RegistrationsResource
from monitoring_pipeline.defs.dnb.sensors import RegistrationSyncCursor, dnb_registration_sync_sensor
from monitoring_pipeline.defs.shared.resources import ProjectDatabaseResource
from monitoring_pipeline.storage.schema import dnb_portfolio_actions

SUPPLIERS = """\
reference: SUPPLIERS
productId: cmpelk
applyTransfers: true
portfolio: {file: portfolios/suppliers.csv}
"""
CUSTOMERS = """\
reference: CUSTOMERS
productId: cmpelk
portfolio: ['001017545']
"""


class Registrations:
    """A folder of registration files and the sensor ticking over it, cursor carried from tick to tick."""

    def __init__(self, directory: Path, engine) -> None:  # type: ignore[no-untyped-def]
        self.directory = directory
        self.engine = engine
        self.cursor: str | None = None
        (directory / "portfolios").mkdir(parents=True)
        self.write("suppliers.yaml", SUPPLIERS)
        self.write("customers.yaml", CUSTOMERS)
        self.write("portfolios/suppliers.csv", "duns,name\n213310873,Acme\n804735132,Globex\n")
        self.resources = {
            "database": ProjectDatabaseResource(url=engine.url.render_as_string(hide_password=False)),
            "registrations": RegistrationsResource(directory=str(directory)),
        }

    def write(self, name: str, text: str) -> None:
        (self.directory / name).write_text(text)

    def tick(self) -> dg.SensorResult:
        with dg.build_sensor_context(cursor=self.cursor, resources=self.resources) as context:
            result = dnb_registration_sync_sensor(context)
        if result.cursor is not None:
            self.cursor = result.cursor
        return result

    def transfer(self, reference: str, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(dnb_portfolio_actions).values(
                notification_key=key, reference=reference, old_duns="213310873", retained_duns="999999999",
                status="pending", created_at=datetime.now(UTC),
            ))

    def apply_transfers(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(dnb_portfolio_actions).values(status="applied"))


@pytest.fixture
def registrations(tmp_path, sqlite_engine) -> Registrations:
    return Registrations(tmp_path / "registrations", sqlite_engine)


def _requested(result: dg.SensorResult) -> str:
    [request] = result.run_requests
    return request.run_key


def test_the_first_tick_syncs_and_an_unchanged_declaration_never_syncs_twice(registrations):
    first = _requested(registrations.tick())
    assert first.startswith("registration-sync:1:")

    again = registrations.tick()
    assert not again.run_requests and "unchanged" in again.skip_reason.skip_message
    assert RegistrationSyncCursor.parse(registrations.cursor).requests == 1


def test_a_comment_or_a_renamed_file_changes_nothing_to_sync(registrations):
    registrations.tick()
    registrations.write("customers.yaml", "# our biggest customers\n" + CUSTOMERS)
    (registrations.directory / "customers.yaml").rename(registrations.directory / "clients.yaml")

    assert not registrations.tick().run_requests


def test_a_change_in_a_portfolio_file_syncs(registrations):
    registrations.tick()
    registrations.write("portfolios/suppliers.csv", "duns,name\n213310873,Acme\n")  # Globex leaves

    assert _requested(registrations.tick()).startswith("registration-sync:2:")


def test_going_back_to_an_earlier_declaration_syncs_again_under_a_new_run_key(registrations):
    first = _requested(registrations.tick())
    registrations.write("customers.yaml", CUSTOMERS.replace("['001017545']", "['001017545', '804735132']"))
    second = _requested(registrations.tick())
    registrations.write("customers.yaml", CUSTOMERS)  # reverted: D&B still holds the added DUNS

    third = _requested(registrations.tick())

    assert len({first, second, third}) == 3  # a repeated run key would be dropped by Dagster
    assert third.split(":")[2] == first.split(":")[2]  # the same declaration as the first


def test_a_new_transfer_syncs_once_and_only_where_transfers_are_applied(registrations):
    registrations.tick()
    registrations.transfer("CUSTOMERS", "a" * 64)  # CUSTOMERS does not apply transfers by itself
    assert not registrations.tick().run_requests

    registrations.transfer("SUPPLIERS", "b" * 64)
    assert _requested(registrations.tick())
    assert not registrations.tick().run_requests  # the same transfer still waiting: asked for already

    registrations.apply_transfers()  # the sync applied it
    assert not registrations.tick().run_requests
    registrations.transfer("SUPPLIERS", "c" * 64)
    assert _requested(registrations.tick())


def test_a_broken_registration_file_is_named_and_synced_once_fixed(registrations):
    registrations.tick()
    registrations.write("customers.yaml", CUSTOMERS.replace("'001017545'", "'1017545'"))

    broken = registrations.tick()

    assert not broken.run_requests
    message = broken.skip_reason.skip_message
    assert "customers.yaml" in message and "portfolio[0]" in message
    registrations.write("customers.yaml", CUSTOMERS.replace("'001017545'", "'001017546'"))
    assert _requested(registrations.tick())


def test_the_cursor_of_an_earlier_version_means_one_more_sync(registrations):
    registrations.cursor = "3f2a9c0d1e2b4a5c:0"  # "<files hash>:<waiting transfers>"

    assert _requested(registrations.tick()).startswith("registration-sync:1:")
