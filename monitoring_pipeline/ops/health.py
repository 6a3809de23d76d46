"""``/health/live`` and ``/health/ready``: liveness of this process, readiness of what it reports on.

Ready means: the project database answers and is migrated to this code's revision, the D&B landing sensor and the
integration probe sensor wrote recently (they write the database, so their last pull and probe tell), and the
notification outbox is not backed up. Each check says ``ok``, ``fail`` (with why) or ``skipped`` (nothing to check,
e.g. no registration pulls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from monitoring_pipeline.ops import delivery_reads
from monitoring_pipeline.ops.config import ReadinessConfig
from monitoring_pipeline.storage.database import MIGRATIONS_DIR
from monitoring_pipeline.storage.schema import dnb_registration_status, integration_states

OK, FAIL, SKIPPED = "ok", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    status: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else (now - moment).total_seconds()


def readiness(engine: Engine, config: ReadinessConfig, now: datetime, expects_landing: bool,
              expects_probes: bool) -> dict[str, Check]:
    """Every readiness check; ``expects_*``: whether registrations pull and integrations are enabled."""
    checks: dict[str, Check] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        failed = Check(FAIL, f"the project database does not answer ({type(error).__name__})")
        return {"database": failed, "landing_sensor": Check(SKIPPED, "no database"),
                "probe_sensor": Check(SKIPPED, "no database"), "outbox": Check(SKIPPED, "no database")}
    head = _head_revision()
    checks["database"] = (Check(OK, f"reachable, migrated to {current}") if current == head
                          else Check(FAIL, f"migrated to {current}, this code needs {head} (run the pipeline or "
                                           "`monitoring-pipeline database migrate`)"))
    with engine.connect() as connection:
        last_pull = connection.execute(select(func.max(dnb_registration_status.c.last_attempt_at))).scalar_one()
        last_probe = connection.execute(select(func.max(integration_states.c.last_probe_at))).scalar_one()
    checks["landing_sensor"] = _recent("landing sensor's last pull", now, last_pull, config.landing_max_age,
                                       expects_landing, "no registration pulls from D&B")
    checks["probe_sensor"] = _recent("probe sensor's last probe", now, last_probe, config.probe_max_age,
                                     expects_probes, "no integration is enabled")
    backlog = delivery_reads.outbox_backlog(engine, now)
    oldest = backlog.oldest_age_seconds(now)
    if backlog.pending > config.outbox_max_pending:
        checks["outbox"] = Check(FAIL, f"{backlog.pending} notifications waiting (more than "
                                       f"{config.outbox_max_pending})")
    elif oldest > config.outbox_max_age:
        checks["outbox"] = Check(FAIL, f"the oldest notification has waited {oldest:.0f}s (more than "
                                       f"{config.outbox_max_age:g}s)")
    else:
        checks["outbox"] = Check(OK, f"{backlog.pending} waiting, {backlog.held} held")
    return checks


def _recent(what: str, now: datetime, moment: datetime | None, max_age: float, expected: bool,
            not_expected: str) -> Check:
    if not expected:
        return Check(SKIPPED, not_expected)
    age = _age(now, moment)
    if age is None:
        return Check(FAIL, f"the {what}: never (is the Dagster daemon running with the sensor on?)")
    if age > max_age:
        return Check(FAIL, f"the {what} was {age:.0f}s ago (more than {max_age:g}s)")
    return Check(OK, f"the {what} was {age:.0f}s ago")
