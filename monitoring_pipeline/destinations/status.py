"""Each remote destination's last attempt, success and error (``destination_status``), for the status command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from monitoring_pipeline.notifications.files import stored_totals
from monitoring_pipeline.storage.schema import destination_status
from monitoring_pipeline.storage.upsert import upsert

_s = destination_status.c
_MAX_ERROR = 2000


@dataclass(frozen=True)
class DestinationState:
    destination: str
    kind: str
    target: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_partition: str | None
    files_stored: int
    bytes_stored: int


def record_outcome(
    engine: Engine, destination: str, kind: str, target: str, partition: str | None, error: str | None = None
) -> None:
    """Record a run's outcome: a success clears ``last_error``; a failure keeps the last success time."""
    now = datetime.now(UTC)
    files, size = stored_totals(engine, destination)
    values: dict[str, object] = {
        "destination": destination,
        "kind": kind,
        "target": target,
        "last_attempt_at": now,
        "last_partition": partition,
        "files_stored": files,
        "bytes_stored": size,
    }
    if error is None:
        values.update(last_success_at=now, last_error=None)
    else:
        values.update(last_error=error[:_MAX_ERROR], last_error_at=now)
    # Only the columns given are updated: a failure keeps the last success time.
    with engine.begin() as connection:
        upsert(connection, destination_status, [values], keys=("destination",))


def destination_states(engine: Engine) -> dict[str, DestinationState]:
    with engine.connect() as connection:
        rows = connection.execute(select(destination_status).order_by(_s.destination)).all()
    return {row.destination: DestinationState(**row._asdict()) for row in rows}
