"""The delivery step: send what the outbox holds that is due, at least once, within a time budget.

``deliver_due`` leases due rows (several processes may run it at once), sends each notification to every channel of
its receiver that does not have it yet, concurrently across targets and paced per target (Slack 1/s per webhook,
PagerDuty 2/s per key, Discord's own headers, Retry-After), records every attempt in the delivery log, and ends each
row delivered, pending (retried later with the project's backoff), held (its receiver is broken: a permanent
failure) or failed (a test that failed, or retries given up). A process killed at any point loses nothing: a row
whose lease expires is sent again, to the channels whose delivery was not logged.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, select

from monitoring_pipeline.aiohttp_transport import AiohttpTransport
from monitoring_pipeline.alerting import delivery_store as store
from monitoring_pipeline.alerting.channels.alertmanager import AlertmanagerChannel, postable_alert
from monitoring_pipeline.alerting.channels.base import Channel, SendContext, SendResult, redact_http_logs
from monitoring_pipeline.alerting.channels.email import EmailChannel
from monitoring_pipeline.alerting.model import Alert, Notification, alert_log_fields
from monitoring_pipeline.alerting.outbox import DELIVERED, FAILED, HELD, PENDING, enqueue
from monitoring_pipeline.alerting.receivers import ReceiverConfig
from monitoring_pipeline.logs import log_context
from monitoring_pipeline.retry import Backoff
from monitoring_pipeline.storage.schema import alert_delivery_log, alert_outbox

logger = logging.getLogger(__name__)
MAX_DEFERRED = 5000  # rows given back in one pass (paced targets): past this the pass ends
T = TypeVar("T")


@dataclass(frozen=True)
class DeliverySettings:
    """How the delivery step paces itself; the defaults suit a sensor tick."""

    batch_size: int = 200  # rows leased at once
    concurrency: int = 32  # sends in flight at once (across targets)
    per_target: int = 8  # sends in flight to one target (one webhook, one SMTP server) at once
    lease_seconds: float = 180.0  # longer than any pass: a row is re-sent only once its process is surely gone
    backoff: Backoff = field(default_factory=lambda: Backoff(initial_seconds=5.0, max_seconds=600.0))
    give_up_after: timedelta = timedelta(hours=24)  # retryable failures: then the row fails
    failing_after: int = 3  # retryable failures in a row before the receiver is reported broken (without holding)
    hold_expiry: timedelta = timedelta(days=7)  # held rows older than this fail
    min_send_seconds: float = 0.5  # no send starts with less of the budget left


@dataclass
class DeliveryReport:
    """What one pass did (sensor metadata, logs, the CLI)."""

    leased: int = 0
    delivered: int = 0
    retried: int = 0
    held: int = 0
    failed: int = 0
    deferred: int = 0  # leased but not sent in this pass (budget or a target's rate limit); due again at once
    attempts: int = 0
    refreshed: int = 0  # alerts re-sent to Alertmanager channels
    lost_leases: int = 0  # rows another process took over (ours had expired)
    broken: list[str] = field(default_factory=list)  # receivers that broke in this pass
    recovered: list[str] = field(default_factory=list)
    duration_seconds: float = 0.0

    def summary(self) -> str:
        text = (f"{self.delivered} delivered, {self.retried} to retry, {self.held} held, {self.failed} failed, "
                f"{self.deferred} deferred ({self.attempts} attempts in {self.duration_seconds:.1f}s)")
        if self.refreshed:
            text += f"; {self.refreshed} alerts re-sent to Alertmanager"
        if self.broken:
            text += f"; broken: {', '.join(self.broken)}"
        if self.recovered:
            text += f"; recovered: {', '.join(self.recovered)}"
        return text


class Pacer:
    """Per-target spacing of sends, kept for the life of the process (a sensor's code server runs many passes), so
    a rate limit holds across passes. Times are ``time.monotonic()``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}

    async def acquire(self, key: str, interval: float, latest: float) -> bool:
        """Wait for ``key``'s next slot; False (and no slot taken) if it comes after ``latest``."""
        now = self._clock()
        slot = max(now, self._next.get(key, 0.0))
        if slot > latest:
            return False
        self._next[key] = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)
        return True

    def pause(self, key: str, seconds: float) -> None:
        """No send to ``key`` for ``seconds`` (Retry-After, a spent rate-limit window, a failure's backoff)."""
        self._next[key] = max(self._next.get(key, 0.0), self._clock() + seconds)


class _NoCookies(CookieJar):
    """A receiver's cookies are never sent back (a webhook is not a browser session), and not parsing them saves
    a measurable share of each send's CPU."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


PACER = Pacer()
OnSent = Callable[[store.LeasedRow, Channel, SendResult], None]


def deliver_due(
    engine: Engine,
    receivers: Mapping[str, ReceiverConfig] | Iterable[ReceiverConfig],
    now: datetime | None = None,
    budget_seconds: float = 20.0,
    settings: DeliverySettings | None = None,
    *,
    only_ids: Iterable[int] | None = None,
    pacer: Pacer | None = None,
    on_sent: OnSent | None = None,
) -> DeliveryReport:
    """Send what is due within ``budget_seconds`` (wall time) and return what happened.

    ``receivers`` is the current configuration (it is re-read by callers each pass, so a fixed receiver is picked
    up). ``now`` fixes the clock (tests with virtual time); by default it is the real UTC time at each step.
    ``only_ids`` limits the pass to those outbox rows (``alerts test``). ``on_sent`` hears of each send right after
    it returns, before anything is recorded (instrumentation and the crash tests).
    """
    if not isinstance(receivers, Mapping):
        receivers = {receiver.name: receiver for receiver in receivers}
    redact_http_logs()
    run = _Pass(engine, dict(receivers), now, budget_seconds, settings or DeliverySettings(), only_ids,
                pacer or PACER, on_sent)
    return asyncio.run(run.run())


class _Pass:
    def __init__(self, engine: Engine, receivers: dict[str, ReceiverConfig], now: datetime | None,
                 budget_seconds: float, settings: DeliverySettings, only_ids: Iterable[int] | None, pacer: Pacer,
                 on_sent: OnSent | None) -> None:
        self.engine = engine
        self.receivers = receivers
        self.fixed_now = now
        self.deadline = time.monotonic() + budget_seconds
        self.settings = settings
        self.only_ids = list(only_ids) if only_ids is not None else None
        self.pacer = pacer
        self.on_sent = on_sent
        self.report = DeliveryReport()
        self.channels = {name: receiver.build_channels() for name, receiver in receivers.items()}
        self.hashes = {name: receiver.config_hash() for name, receiver in receivers.items()}
        self.healthy: set[str] = set()  # receivers whose success this pass has recorded already
        self.deferred: set[int] = set()  # rows given back in this pass: not leased again until the next
        # SQLite has one writer: threads writing at once would only wait in its busy handler (sleeps of up to 100 ms).
        workers = 1 if engine.dialect.name == "sqlite" else 4
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alert-delivery-db")
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        # One HTTP client per target, its connections kept alive through the pass; it sends through aiohttp, which
        # costs a third of httpcore's CPU per request (aiohttp_transport.py).
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.target_slots: dict[str, asyncio.Semaphore] = {}
        self.batch: list[tuple[store.LeasedRow, store.RowOutcome, list[store.Attempt], asyncio.Future[None]]] = []
        self.flushing = False

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    async def db(self, function: Callable[..., T], *args: Any) -> T:
        # In the caller's context: what the database step logs carries the notification's log context.
        call = contextvars.copy_context().run
        return await asyncio.get_running_loop().run_in_executor(self.executor, call, function, *args)

    async def run(self) -> DeliveryReport:
        started = time.monotonic()
        try:
            await self.db(store.reconcile_receivers, self.engine, self.hashes, self.now(), self.settings.hold_expiry)
            try:
                if self.only_ids is None:
                    await self.refresh_alertmanager()
                while self.remaining() > self.settings.min_send_seconds and len(self.deferred) < MAX_DEFERRED:
                    rows = await self.db(store.lease_due, self.engine, self.now(), self.settings.batch_size,
                                         self.settings.lease_seconds, list(self.receivers), self.only_ids,
                                         self.deferred)
                    if not rows:
                        break
                    self.report.leased += len(rows)
                    history = await self.db(store.channel_history, self.engine, [row.id for row in rows])
                    await asyncio.gather(*(self.deliver_row(row, history.get(row.id, {})) for row in rows))
            finally:
                await asyncio.gather(*(client.aclose() for client in self.clients.values()))
        finally:
            self.executor.shutdown(wait=True)
            self.report.duration_seconds = round(time.monotonic() - started, 3)
        return self.report

    async def deliver_row(self, row: store.LeasedRow, history: dict[str, tuple[int, bool]]) -> None:
        try:
            notification = Notification.from_json(row.payload)
        except Exception as error:  # noqa: BLE001 - a row we cannot read fails alone, with the reason
            await self.db(self.finish, row, store.RowOutcome(FAILED, error=f"unreadable payload: {error}"), [], [])
            self.report.failed += 1
            return
        labels = notification.group_labels
        with log_context(**alert_log_fields(labels.get("alertname") or row.group_key, labels)):
            await self._deliver(row, notification, history)

    async def _deliver(self, row: store.LeasedRow, notification: Notification,
                       history: dict[str, tuple[int, bool]]) -> None:
        channels = self.channels[row.receiver]
        targets = [channel for channel in channels if not history.get(channel.label, (0, False))[1]]
        root = None
        if any(isinstance(channel, EmailChannel) for channel in targets):
            root = await self.db(store.thread_root, self.engine, row)
        log_each = len(targets) > 1  # several channels: log each as it returns, so a crash repeats only the rest
        results = await asyncio.gather(*(
            self.send(row, notification, channel, history.get(channel.label, (0, False))[0] + 1, root, log_each)
            for channel in targets))
        sent = [(channel, *done) for channel, done in zip(targets, results, strict=True) if done is not None]
        outcome = self.outcome(row, [(channel.label, result) for channel, _, result in sent],
                               deferred=len(sent) < len(targets))
        unlogged = [] if log_each else [attempt for _, attempt, _ in sent]
        await self.record(row, outcome, unlogged, [(c, a, notification) for c, a, _ in sent])
        if outcome.status == PENDING and outcome.due_at is None:
            self.deferred.add(row.id)
        self.count(outcome, len(sent))
        logger.log(logging.DEBUG if outcome.status == DELIVERED else logging.INFO, "%s notification to %s: %s%s",
                   row.kind, row.receiver, outcome.status, f" ({outcome.error})" if outcome.error else "")

    def client(self, key: str) -> httpx.AsyncClient:
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = httpx.AsyncClient(
                transport=AiohttpTransport(max_connections=self.settings.per_target), follow_redirects=False,
                cookies=_NoCookies())
        return client

    async def send(self, row: store.LeasedRow, notification: Notification, channel: Channel, attempt: int,
                   root: str | None, log_now: bool) -> tuple[store.Attempt, SendResult] | None:
        """One send to one channel, or None when it did not start (budget, or the target's pace)."""
        key = channel.pacing_key()
        slots = self.target_slots.setdefault(key, asyncio.Semaphore(self.settings.per_target))
        async with slots, self.semaphore:
            latest = self.deadline - self.settings.min_send_seconds
            if self.remaining() < self.settings.min_send_seconds or not await self.pacer.acquire(
                    key, channel.min_interval, latest):
                return None
            attempted_at = self.now()
            context = SendContext(now=attempted_at, thread_root=root, receiver=row.receiver)
            try:
                async with asyncio.timeout(max(self.remaining(), self.settings.min_send_seconds)):
                    result = await channel.send(notification, context, self.client(key))
            except TimeoutError:
                result = SendResult("retry", None, "no answer before the delivery pass's budget ran out")
            if self.on_sent is not None:
                self.on_sent(row, channel, result)
            if result.pause_for:
                self.pacer.pause(key, result.pause_for)
            if result.outcome == "retry":
                self.pacer.pause(key, self.settings.backoff.delay(attempt, result.retry_after))
            entry = store.Attempt(row.id, row.idempotency_key, row.receiver, channel.label, channel.type, row.kind,
                                  attempt, attempted_at, self.log_outcome(row, result), result.status_code,
                                  result.detail, result.latency_ms)
            if log_now:
                await self.db(store.record_attempts, self.engine, [entry])
            return entry, result

    def gives_up(self, row: store.LeasedRow) -> bool:
        return self.now() - row.created_at >= self.settings.give_up_after

    def log_outcome(self, row: store.LeasedRow, result: SendResult) -> str:
        if result.outcome == "delivered":
            return store.LOG_DELIVERED
        if result.outcome == "failed":
            return store.LOG_FAILED if row.kind == "test" else store.LOG_HELD
        return store.LOG_FAILED if self.gives_up(row) else store.LOG_RETRY

    def outcome(self, row: store.LeasedRow, results: list[tuple[str, SendResult]], deferred: bool) -> store.RowOutcome:
        permanent = [f"{label}: {r.detail}" for label, r in results if r.outcome == "failed"]
        retrying = [f"{label}: {r.detail}" for label, r in results if r.outcome == "retry"]
        if permanent:
            return store.RowOutcome(FAILED if row.kind == "test" else HELD, error=permanent[0])
        if retrying:
            if self.gives_up(row):
                return store.RowOutcome(FAILED, error=f"gave up after {self.settings.give_up_after}: {retrying[0]}")
            asked = max((r.retry_after for _, r in results if r.outcome == "retry" and r.retry_after is not None),
                        default=None)
            wait = self.settings.backoff.delay(row.attempts + 1, asked)
            return store.RowOutcome(PENDING, due_at=self.now() + timedelta(seconds=wait), error=retrying[0])
        if deferred:
            return store.RowOutcome(PENDING, attempted=bool(results))
        return store.RowOutcome(DELIVERED)

    async def record(self, row: store.LeasedRow, outcome: store.RowOutcome, unlogged: list[store.Attempt],
                     sent: list[tuple[Channel, store.Attempt, Notification]]) -> None:
        """Write a row's outcome. Plain successes (a healthy receiver, nothing held or released, nothing pushed to
        Alertmanager) are group-committed: the rows that finished while the last commit ran share the next one.
        They touch only their own rows, so a shared transaction cannot deadlock with another process."""
        plain = (outcome.status == DELIVERED and row.receiver in self.healthy and sent
                 and not any(isinstance(channel, AlertmanagerChannel) for channel, _, _ in sent))
        if not plain:
            await self.db(self.finish, row, outcome, unlogged, sent)
            return
        done = asyncio.get_running_loop().create_future()
        self.batch.append((row, outcome, unlogged, done))
        if not self.flushing:
            self.flushing = True
            asyncio.ensure_future(self.flush())
        await done

    async def flush(self) -> None:
        try:
            while self.batch:
                items, self.batch = self.batch, []
                try:
                    await self.db(self.finish_plain, [(row, outcome, unlogged) for row, outcome, unlogged, _ in items])
                except Exception as error:  # noqa: BLE001 - each waiting row hears of it (they stay leased)
                    for *_, done in items:
                        done.set_exception(error)
                else:
                    for *_, done in items:
                        done.set_result(None)
        finally:
            self.flushing = False

    def finish_plain(self, items: list[tuple[store.LeasedRow, store.RowOutcome, list[store.Attempt]]]) -> None:
        now = self.now()
        with self.engine.begin() as connection:
            entries = [a.row() for _, _, unlogged in items for a in unlogged]
            if entries:
                connection.execute(alert_delivery_log.insert(), entries)
            mine = store.finish_delivered(connection, [row for row, _, _ in items], now)
            for row, _, _ in items:
                if row.id not in mine:
                    self.report.lost_leases += 1
                    logger.warning("outbox row %s was taken over by another process (our lease expired)", row.id)

    def finish(self, row: store.LeasedRow, outcome: store.RowOutcome, unlogged: list[store.Attempt],
               sent: list[tuple[Channel, store.Attempt, Notification]]) -> None:
        """Record the row's attempts, its outcome and what they say about its receiver, in one transaction."""
        now = self.now()
        config_hash = self.hashes.get(row.receiver)
        attempts = [a for _, a, _ in sent]
        failures = [a for a in attempts if a.outcome != store.LOG_DELIVERED]
        with self.engine.begin() as connection:
            if failures or (attempts and row.receiver not in self.healthy):  # may hold or release other rows
                store.lock_receiver(connection, row.receiver, now)
            if unlogged:
                connection.execute(alert_delivery_log.insert(), [a.row() for a in unlogged])
            if not store.finish_row(connection, row, outcome, now):
                self.report.lost_leases += 1
                logger.warning("outbox row %s was taken over by another process (our lease expired)", row.id)
            for channel, attempt, notification in sent:
                if isinstance(channel, AlertmanagerChannel) and attempt.outcome == store.LOG_DELIVERED:
                    self.remember_pushed(connection, channel, row, notification, now)
            if failures:
                self.healthy.discard(row.receiver)
                permanent = any(a.outcome == store.LOG_HELD or (a.outcome == store.LOG_FAILED and a.kind == "test")
                                for a in failures)
                reason = f"{failures[0].channel} ({failures[0].channel_type}): {failures[0].detail}"
                if store.note_failure(connection, row.receiver, config_hash, now, reason, permanent=permanent,
                                      failing_after=self.settings.failing_after):
                    self.report.broken.append(row.receiver)
                    logger.warning("receiver %s is broken: %s", row.receiver, reason)
            elif attempts and row.receiver not in self.healthy:
                if store.note_success(connection, row.receiver, config_hash or "", now):
                    self.report.recovered.append(row.receiver)
                    logger.info("receiver %s works again; its held notifications go out", row.receiver)
                self.healthy.add(row.receiver)

    def remember_pushed(self, connection: Any, channel: AlertmanagerChannel, row: store.LeasedRow,
                        notification: Notification, now: datetime) -> None:
        if notification.kind == "test":
            return
        firing = {a.fingerprint: postable_alert(a) for a in notification.alerts if a.state != "resolved"}
        resolved = [a.fingerprint for a in notification.alerts if a.state == "resolved"]
        refresh_at = now + timedelta(seconds=channel.config.resend_interval_seconds)
        store.remember_pushed(connection, row.receiver, channel.label, firing, resolved, now, refresh_at, row.id)

    def count(self, outcome: store.RowOutcome, attempts: int) -> None:
        self.report.attempts += attempts
        if outcome.status == DELIVERED:
            self.report.delivered += 1
        elif outcome.status == HELD:
            self.report.held += 1
        elif outcome.status == FAILED:
            self.report.failed += 1
        elif outcome.attempted:
            self.report.retried += 1
        else:
            self.report.deferred += 1

    async def refresh_alertmanager(self) -> None:
        """Re-send alerts still firing to Alertmanager channels before their endsAt passes. Each re-send is in the
        delivery log (kind ``resend``): one attempt per notification whose alerts it carried. A failed one is tried
        again next pass."""
        due = await self.db(store.due_pushed, self.engine, self.now())
        for (receiver, label), pushed in due.items():
            channel = next((c for c in self.channels.get(receiver, []) if c.label == label), None)
            if not isinstance(channel, AlertmanagerChannel) or self.remaining() < self.settings.min_send_seconds:
                continue
            now = self.now()
            try:
                async with asyncio.timeout(self.remaining()):
                    result = await channel.resend([alert.body for alert in pushed], now,
                                                  self.client(channel.pacing_key()))
            except TimeoutError:
                result = SendResult("retry", None, "no answer before the delivery pass's budget ran out")
            delivered = result.outcome == "delivered"
            carried = Counter((alert.outbox_id, alert.idempotency_key) for alert in pushed)
            history = await self.db(store.channel_history, self.engine,
                                    [outbox_id for outbox_id, _ in carried if outbox_id is not None])
            attempts = [
                store.Attempt(outbox_id or 0, key or f"{store.RESEND}:{receiver}:{label}", receiver, label,
                              channel.type, store.RESEND,
                              history.get(outbox_id or 0, {}).get(label, (0, False))[0] + 1, now,
                              store.LOG_DELIVERED if delivered else store.LOG_RETRY, result.status_code,
                              f"{count} firing alert{'s' if count > 1 else ''} re-sent: {result.detail}",
                              result.latency_ms)
                for (outbox_id, key), count in carried.items()]
            refresh_at = now + timedelta(seconds=channel.config.resend_interval_seconds)
            await self.db(store.record_resend, self.engine, receiver, label, attempts,
                          [alert.fingerprint for alert in pushed] if delivered else [], now, refresh_at)
            if delivered:
                self.report.refreshed += len(pushed)
            else:
                logger.warning("re-sending %d firing alerts to %s/%s failed: %s (tried again next pass)",
                               len(pushed), receiver, label, result.detail or result.outcome)


# -- alerts test RECEIVER -----------------------------------------------------------------------------------------


def sample_notification(receiver: str, now: datetime) -> Notification:
    """What `alerts test` sends: one sample alert, so the receiver shows how alerts look."""
    key = f"test:{receiver}:{uuid.uuid4().hex[:12]}"
    alert = Alert(id=0, fingerprint=key, rule="delivery_test", state="firing", severity="info",
                  labels={"receiver": receiver},
                  annotations={"summary": f"Test notification for receiver {receiver}",
                               "description": f"If you can read this, receiver {receiver} works."},
                  starts_at=now, source="test")
    return Notification(idempotency_key=key, kind="test", receiver=receiver, group_key=key,
                        group_labels={"receiver": receiver}, alerts=(alert,), created_at=now)


@dataclass(frozen=True)
class ReceiverTestResult:
    """The outcome of `alerts test RECEIVER`: the row's final status and each channel's attempts."""

    receiver: str
    status: str
    attempts: list[store.Attempt]

    @property
    def ok(self) -> bool:
        return self.status == DELIVERED


def send_test(engine: Engine, receiver: ReceiverConfig, now: datetime | None = None, budget_seconds: float = 30.0,
              settings: DeliverySettings | None = None) -> ReceiverTestResult:
    """Send a test notification to ``receiver`` through the real path (outbox, delivery, log) and report it. A
    success makes a broken receiver healthy again: its held notifications go out with the next pass."""
    settings = settings or DeliverySettings()
    moment = now or datetime.now(UTC)
    notification = sample_notification(receiver.name, moment)
    with engine.begin() as connection:
        enqueue(connection, notification)
        outbox_id = connection.execute(select(alert_outbox.c.id).where(
            alert_outbox.c.idempotency_key == notification.idempotency_key)).scalar_one()
    # A test is tried once per channel: its retries would only hide the answer the user asked for.
    deliver_due(engine, {receiver.name: receiver}, now, budget_seconds, settings, only_ids=[outbox_id])
    with engine.connect() as connection:
        status = connection.execute(select(alert_outbox.c.status).where(alert_outbox.c.id == outbox_id)).scalar_one()
        rows = connection.execute(select(alert_delivery_log).where(alert_delivery_log.c.outbox_id == outbox_id)
                                  .order_by(alert_delivery_log.c.id)).all()
        if status == PENDING:  # retryable answers: report them, and do not leave the test in the outbox
            connection.execute(alert_outbox.update().where(alert_outbox.c.id == outbox_id).values(
                status=FAILED, leased_until=None))
            connection.commit()
            status = FAILED
    attempts = [store.Attempt(**{k: v for k, v in row._mapping.items() if k != "id"}) for row in rows]
    return ReceiverTestResult(receiver.name, status, attempts)
