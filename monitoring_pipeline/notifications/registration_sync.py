"""Keep each D&B registration's subjects equal to the portfolio declared in config, and act on TRANSFERs.

D&B has no "list subjects" call, so what a registration holds is what ``dnb_registration_sync_log`` says
we added and did not remove since. DUNS we never touched are checked one by one for a small
portfolio and assumed absent for a large one (adding is idempotent).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Insert, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from monitoring_pipeline.dnb.client import DnbClient
from monitoring_pipeline.dnb.errors import DnbError
from monitoring_pipeline.dnb.identifiers import validate_duns
from monitoring_pipeline.notifications.registrations import RegistrationConfig
from monitoring_pipeline.storage.schema import (
    dnb_landed_notifications,
    dnb_portfolio_actions,
    dnb_registration_sync_log,
)

log = logging.getLogger(__name__)

ADD, REMOVE, UNSUPPRESS = "add", "remove", "unsuppress"
# ``check``: has_subject found a DUNS we never added already present; logged so we never ask again.
SINGLE, BATCH, CHECK = "single", "batch", "check"
PENDING, APPLIED, IGNORED = "pending", "applied", "ignored"
SUBJECT_PRESENT_CODE = "21110"
TRANSFER = "TRANSFER"
NO_DUNS = ""  # sync-log rows about the whole registration (unsuppress)


@dataclass(frozen=True)
class SyncPlan:
    """What one sync changes at D&B for one registration."""

    reference: str
    to_add: tuple[str, ...]
    to_remove: tuple[str, ...]
    use_batch_for_add: bool
    use_batch_for_remove: bool
    unsuppress: bool  # unsuppress after the adds if D&B says notifications are held

    @property
    def changes(self) -> int:
        return len(self.to_add) + len(self.to_remove)


@dataclass
class SyncResult:
    """Outcome of syncing one registration: counts for Dagster metadata and the actions for a preview."""

    reference: str
    added: int = 0
    removed: int = 0
    already_present: int = 0
    already_absent: int = 0
    unsuppressed: bool = False
    batch_uploads: int = 0
    calls: int = 0
    transfers_recorded: int = 0
    transfers_skipped: int = 0  # malformed TRANSFER notifications
    transfers_applied: int = 0
    transfers_pending: int = 0
    actions: list[tuple[str, str, str | None]] = field(default_factory=list)  # (action, duns, code)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def effective_portfolio(declared: Iterable[str], applied_transfers: Mapping[str, str]) -> frozenset[str]:
    """The declared DUNS with applied transfers substituted (old DUNS -> retained DUNS, following chains)."""
    return frozenset(_successor(duns, applied_transfers) for duns in declared)


def _successor(duns: str, transfers: Mapping[str, str]) -> str:
    seen = {duns}
    while duns in transfers:
        duns = transfers[duns]
        if duns in seen:  # a transfer cycle would loop forever: stop where it closes
            break
        seen.add(duns)
    return duns


def plan_sync(
    config: RegistrationConfig,
    current: set[str],
    applied_transfers: Mapping[str, str],
    *,
    unsuppressed_before: bool = False,
) -> SyncPlan:
    """Compare the effective portfolio with ``current`` (the subjects D&B holds that we manage)."""
    desired = effective_portfolio(config.portfolio, applied_transfers)
    to_add = tuple(sorted(desired - current))
    to_remove = tuple(sorted(current - desired))
    return SyncPlan(
        reference=config.reference,
        to_add=to_add,
        to_remove=to_remove,
        use_batch_for_add=len(to_add) > config.batch_threshold,
        use_batch_for_remove=len(to_remove) > config.batch_threshold,
        unsuppress=config.unsuppress_after_seed and not unsuppressed_before,
    )


def sync_registration(client: DnbClient, engine: Engine, config: RegistrationConfig, run_id: str | None) -> SyncResult:
    """Bring one registration's subjects in line with its declared portfolio; every change is logged."""
    reference = config.reference
    calls_before = client.stats.calls
    result = SyncResult(reference)
    current, known, unsuppressed_before = _recorded_state(engine, reference)
    transfers = applied_transfers(engine, reference)
    desired = effective_portfolio(config.portfolio, transfers)
    if len(desired) <= config.batch_threshold:
        found = [duns for duns in sorted(desired - known) if client.has_subject(reference, duns)]
        _log(engine, reference, run_id, [(ADD, duns, CHECK, SUBJECT_PRESENT_CODE) for duns in found])
        current |= set(found)
        result.already_present += len(found)
        result.actions += [(ADD, duns, SUBJECT_PRESENT_CODE) for duns in found]
    plan = plan_sync(config, current, transfers, unsuppressed_before=unsuppressed_before)
    # Removing first frees room in a registration before it grows.
    _apply(client, engine, plan, REMOVE, run_id, result)
    _apply(client, engine, plan, ADD, run_id, result)
    if plan.unsuppress and client.get_registration(reference).suppressed:
        client.unsuppress(reference)
        _log(engine, reference, run_id, [(UNSUPPRESS, NO_DUNS, SINGLE, None)])
        result.unsuppressed = True
        result.actions.append((UNSUPPRESS, NO_DUNS, None))
    result.calls = client.stats.calls - calls_before
    return result


def _apply(
    client: DnbClient, engine: Engine, plan: SyncPlan, action: str, run_id: str | None, result: SyncResult
) -> None:
    reference = plan.reference
    duns_list = plan.to_add if action == ADD else plan.to_remove
    if not duns_list:
        return
    if plan.use_batch_for_add if action == ADD else plan.use_batch_for_remove:
        upload = client.batch_add_subjects if action == ADD else client.batch_remove_subjects
        code = upload(reference, duns_list).code
        _log(engine, reference, run_id, [(action, duns, BATCH, code) for duns in duns_list])
        result.batch_uploads += 1
        result.actions += [(action, duns, code) for duns in duns_list]
        if action == ADD:
            result.added += len(duns_list)
        else:
            result.removed += len(duns_list)
        return
    change_subject = client.add_subject if action == ADD else client.remove_subject
    for duns in duns_list:
        change = change_subject(reference, duns)
        # Logged call by call so a crash part-way keeps an exact record of what D&B holds.
        _log(engine, reference, run_id, [(action, duns, SINGLE, change.code)])
        result.actions.append((action, duns, change.code))
        if action == ADD:
            result.added += not change.already_in_desired_state
            result.already_present += change.already_in_desired_state
        else:
            result.removed += not change.already_in_desired_state
            result.already_absent += change.already_in_desired_state


def _recorded_state(engine: Engine, reference: str) -> tuple[set[str], set[str], bool]:
    """(subjects we hold, every DUNS we ever logged, whether we ever unsuppressed) from the sync log."""
    sync_log = dnb_registration_sync_log
    latest = (
        select(func.max(sync_log.c.id).label("id"))
        .where(sync_log.c.reference == reference, sync_log.c.action.in_((ADD, REMOVE)))
        .group_by(sync_log.c.duns)
        .subquery()
    )
    with engine.connect() as connection:
        rows = connection.execute(
            select(sync_log.c.duns, sync_log.c.action).join(latest, sync_log.c.id == latest.c.id)
        ).all()
        unsuppressed = connection.execute(
            select(sync_log.c.id).where(sync_log.c.reference == reference, sync_log.c.action == UNSUPPRESS).limit(1)
        ).first()
    current = {duns for duns, action in rows if action == ADD}
    return current, {duns for duns, _ in rows}, unsuppressed is not None


def _log(
    target: Engine | Connection,
    reference: str,
    run_id: str | None,
    entries: Sequence[tuple[str, str, str, str | None]],
) -> None:
    """Append (action, duns, method, result_code) rows to ``dnb_registration_sync_log``."""
    if not entries:
        return
    now = _utcnow()
    rows = [
        {
            "reference": reference,
            "duns": duns,
            "action": action,
            "method": method,
            "result_code": code,
            "applied_at": now,
            "run_id": run_id,
        }
        for action, duns, method, code in entries
    ]
    if isinstance(target, Connection):
        target.execute(dnb_registration_sync_log.insert(), rows)
        return
    with target.begin() as connection:
        connection.execute(dnb_registration_sync_log.insert(), rows)


# -- TRANSFER notifications -------------------------------------------------------------------------


def record_transfer_actions(engine: Engine, reference: str, landed_rows: Iterable[Any]) -> int:
    """Record landed TRANSFER notifications as pending portfolio actions; returns how many are new.

    Idempotent (one action per notification key). Malformed payloads are skipped, counted in the log.
    """
    return _record_transfers(engine, reference, landed_rows)[0]


def _record_transfers(engine: Engine, reference: str, landed_rows: Iterable[Any]) -> tuple[int, int]:
    """(actions recorded, malformed TRANSFER notifications skipped)."""
    recorded = skipped = 0
    now = _utcnow()
    with engine.begin() as connection:
        for row in landed_rows:
            data = getattr(row, "_mapping", row)
            if data.get("notification_type") != TRANSFER or data.get("reference", reference) != reference:
                continue
            try:
                old_duns, retained_duns = transfer_target(data["payload"])
            except ValueError as error:
                skipped += 1
                key = data.get("notification_key")
                log.warning("Skipped TRANSFER notification %s of %s: %s", key, reference, error)
                continue
            statement = _insert_ignoring_conflicts(engine, dnb_portfolio_actions).values(
                notification_key=data["notification_key"],
                reference=reference,
                old_duns=old_duns,
                retained_duns=retained_duns,
                status=PENDING,
                created_at=now,
            )
            recorded += connection.execute(statement).rowcount
    return recorded, skipped


def transfer_target(payload: str | bytes | Mapping[str, Any]) -> tuple[str, str]:
    """(old DUNS, retained DUNS) of a TRANSFER notification; ``ValueError`` when the payload lacks them."""
    try:
        notification = json.loads(payload) if isinstance(payload, str | bytes) else payload
    except ValueError as error:
        raise ValueError(f"payload is not JSON: {error}") from None
    organization = notification.get("organization") if isinstance(notification, Mapping) else None
    if not isinstance(organization, Mapping):
        raise ValueError("no organization")
    old_duns = validate_duns(organization.get("duns"))
    status = organization.get("dunsControlStatus")
    transfers = status.get("dunsTransfers") if isinstance(status, Mapping) else None
    retained = {t.get("retainedDUNS") for t in transfers or [] if isinstance(t, Mapping)} - {None}
    if len(retained) != 1:
        raise ValueError(f"expected one retainedDUNS in dunsTransfers, found {len(retained)}")
    retained_duns = validate_duns(retained.pop())
    if retained_duns == old_duns:
        raise ValueError("retainedDUNS is the transferred DUNS itself")
    return old_duns, retained_duns


def _insert_ignoring_conflicts(engine: Engine, table: Table) -> Insert:
    dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(engine.dialect.name)
    if dialect is None:
        raise NotImplementedError(f"no conflict-ignoring insert for database {engine.dialect.name!r}")
    return dialect.insert(table).on_conflict_do_nothing()


def apply_transfer_actions(client: DnbClient, engine: Engine, config: RegistrationConfig, run_id: str | None) -> int:
    """With ``applyTransfers``, replace each pending transfer's old DUNS by the retained one; returns how many.

    A transfer of a DUNS outside the effective portfolio is marked ignored: we manage only what config declares.
    Without ``applyTransfers`` the actions stay pending for a person to review.
    """
    if not config.apply_transfers:
        return 0
    reference = config.reference
    actions = dnb_portfolio_actions
    with engine.connect() as connection:
        pending = connection.execute(
            select(actions.c.id, actions.c.old_duns, actions.c.retained_duns)
            .where(actions.c.reference == reference, actions.c.status == PENDING)
            .order_by(actions.c.id)
        ).all()
    transfers = applied_transfers(engine, reference)
    applied = 0
    for action_id, old_duns, retained_duns in pending:
        if old_duns not in effective_portfolio(config.portfolio, transfers):
            _finish_action(engine, action_id, IGNORED)
            continue
        removed = client.remove_subject(reference, old_duns)
        added = client.add_subject(reference, retained_duns)
        with engine.begin() as connection:
            _log(
                connection,
                reference,
                run_id,
                [(REMOVE, old_duns, SINGLE, removed.code), (ADD, retained_duns, SINGLE, added.code)],
            )
            _finish_action(connection, action_id, APPLIED)
        transfers[old_duns] = retained_duns
        applied += 1
    return applied


def _finish_action(target: Engine | Connection, action_id: int, status: str) -> None:
    statement = (
        update(dnb_portfolio_actions)
        .where(dnb_portfolio_actions.c.id == action_id, dnb_portfolio_actions.c.status == PENDING)
        .values(status=status, applied_at=_utcnow())
    )
    if isinstance(target, Connection):
        target.execute(statement)
        return
    with target.begin() as connection:
        connection.execute(statement)


def applied_transfers(engine: Engine, reference: str) -> dict[str, str]:
    """Old DUNS -> retained DUNS of every transfer applied to this registration."""
    actions = dnb_portfolio_actions
    with engine.connect() as connection:
        rows = connection.execute(
            select(actions.c.old_duns, actions.c.retained_duns)
            .where(actions.c.reference == reference, actions.c.status == APPLIED)
            .order_by(actions.c.id)
        ).all()
    return {old: retained for old, retained in rows}


def pending_transfer_count(engine: Engine, reference: str) -> int:
    """Transfers recorded for this registration and waiting for a decision."""
    actions = dnb_portfolio_actions
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(actions.c.reference == reference, actions.c.status == PENDING)
            ).scalar_one()
        )


def newest_pending_transfer(engine: Engine, references: Sequence[str]) -> int:
    """The id of the newest transfer action waiting for a decision in ``references`` (0 when none waits)."""
    actions = dnb_portfolio_actions
    if not references:
        return 0
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.coalesce(func.max(actions.c.id), 0)).where(
                    actions.c.reference.in_(list(references)), actions.c.status == PENDING
                )
            ).scalar_one()
        )


def _unrecorded_transfer_rows(engine: Engine, reference: str) -> list[Any]:
    landed = dnb_landed_notifications
    recorded = select(dnb_portfolio_actions.c.notification_key).where(dnb_portfolio_actions.c.reference == reference)
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(landed.c.notification_key, landed.c.reference, landed.c.notification_type, landed.c.payload)
                .where(
                    landed.c.reference == reference,
                    landed.c.notification_type == TRANSFER,
                    landed.c.notification_key.not_in(recorded),
                )
                .order_by(landed.c.id)
            ).all()
        )


# -- every registration --------------------------------------------------------------------------------


def sync_all(
    client: DnbClient, engine: Engine, configs: Sequence[RegistrationConfig], run_id: str | None
) -> list[SyncResult]:
    """Record and apply transfers, then sync subjects, for every configured registration (any trigger).

    A registration D&B does not know, or one whose calls fail, gets a result with ``error`` set; the
    others are synced regardless. Callers decide whether errors fail the run.
    """
    known = set(client.list_registrations())
    results = []
    for config in configs:
        reference = config.reference
        if reference not in known:
            results.append(
                SyncResult(reference, error=f"registration {reference!r} is not known to D&B for this consumer key")
            )
            continue
        calls_before = client.stats.calls
        try:
            recorded, skipped = _record_transfers(engine, reference, _unrecorded_transfer_rows(engine, reference))
            transfers_applied = apply_transfer_actions(client, engine, config, run_id)
            result = sync_registration(client, engine, config, run_id)
        except DnbError as error:
            log.error("Portfolio sync of %s failed: %s", reference, error)
            results.append(SyncResult(reference, calls=client.stats.calls - calls_before, error=str(error)))
            continue
        result.transfers_recorded = recorded
        result.transfers_skipped = skipped
        result.transfers_applied = transfers_applied
        result.transfers_pending = pending_transfer_count(engine, reference)
        result.calls = client.stats.calls - calls_before
        results.append(result)
    return results


def _utcnow() -> datetime:
    return datetime.now(UTC)
