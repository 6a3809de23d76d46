"""In-memory model of the emulated D&B service: clock, tokens, registrations, queues, log, limits, stats.

Plain Python with no HTTP. One lock guards every mutation, because the HTTP server's event loop and
test code in other threads share one state.
"""

from __future__ import annotations

import bisect
import hmac
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitoring_pipeline.dnb.timestamps import format_millis
from monitoring_pipeline.fakes.dnb_emulator import errors
from monitoring_pipeline.fakes.dnb_emulator.config import EmulatorConfig
from monitoring_pipeline.fakes.dnb_emulator.faults import FaultDraw, Faults
from monitoring_pipeline.fakes.dnb_emulator.models import (
    BatchRejection,
    Delivery,
    PendingBatch,
    QueuedNotification,
    Registration,
    RegistrationSpec,
    Stream,
    Token,
    is_duns,
)

if TYPE_CHECKING:
    from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator

API_PULL = "API_PULL"
_ONE_MS = timedelta(milliseconds=1)
_WINDOW_SECONDS = 1.0


class DuplicateRegistration(Exception):
    """A registration with that reference already exists."""


class CallStats:
    """Counters of D&B calls (admin calls are never counted)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.responses_by_status: Counter[str] = Counter()
        self.faults_fired: Counter[str] = Counter()
        self.max_calls_in_any_second: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}
        self.tokens_issued = 0
        self.expired_notifications = 0

    def record_arrival(self, key: str | None, arrival: float, label: str) -> None:
        """Count a call and update the busiest 1-second window of its consumer key."""
        self.calls[label] += 1
        if key is None:
            return
        recent = self._recent.setdefault(key, deque())
        _drop_older_than(recent, arrival - _WINDOW_SECONDS)
        recent.append(arrival)
        self.max_calls_in_any_second[key] = max(self.max_calls_in_any_second.get(key, 0), len(recent))

    def as_json(self) -> dict[str, Any]:
        """The ``/_emulator/stats`` body."""
        return {
            "calls": dict(self.calls),
            "calls_total": sum(self.calls.values()),
            "responses_429": self.responses_by_status.get("429", 0),
            "responses_by_status": dict(self.responses_by_status),
            "max_calls_in_any_second": dict(self.max_calls_in_any_second),
            "tokens_issued": self.tokens_issued,
            "expired_notifications": self.expired_notifications,
            "faults_fired": dict(self.faults_fired),
        }


class EmulatorState:
    """Everything the emulator knows; safe to use from several threads."""

    def __init__(self, config: EmulatorConfig, generator: NotificationGenerator | None = None) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._generator = generator
        self._generator_lock = threading.Lock()
        self._reset_data()

    def _reset_data(self) -> None:
        self._offset = timedelta(seconds=self.config.start_offset_seconds)
        self._tokens: dict[str, Token] = {}
        self._registrations: dict[str, Registration] = {}
        self._log: list[Delivery] = []
        self._accepted: dict[str, deque[float]] = {}
        self._seq = 0
        self.faults = Faults()
        self.stats = CallStats()

    def reset(self) -> None:
        """Forget registrations, queues, log, tokens, faults, stats and clock moves; keep the config."""
        with self.lock:
            self._reset_data()

    # ----- clock -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Emulator time: real UTC time plus the configured start offset and every ``advance``."""
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the emulator clock forward; returns the new now."""
        if seconds < 0:
            raise ValueError("advance_seconds must be 0 or more (the clock never goes back)")
        with self.lock:
            self._offset += timedelta(seconds=seconds)
            return self.now()

    # ----- tokens ----------------------------------------------------------------------------------

    def check_credentials(self, key: str, secret: str) -> bool:
        """Whether ``key``/``secret`` is an accepted consumer key pair (constant-time compare)."""
        expected = self.config.credentials().get(key)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def issue_token(self, key: str) -> str:
        """A new opaque token for ``key``; older tokens stay valid."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            expires = self.now() + timedelta(seconds=self.config.token_lifetime_seconds)
            self._tokens[token] = Token(key=key, expires_at=expires)
            self.stats.tokens_issued += 1
        return token

    def token_owner(self, token: str | None) -> str | None:
        """Consumer key a token was issued to (expired or not), or None for unknown tokens."""
        if not token:
            return None
        with self.lock:
            record = self._tokens.get(token)
            return record.key if record else None

    def authenticate(self, token: str | None) -> str:
        """Consumer key of a valid token; raises 00004 (missing/unknown) or 00040 (expired)."""
        with self.lock:
            record = self._tokens.get(token) if token else None
            if record is None:
                raise errors.token_missing()
            if record.revoked or self.now() >= record.expires_at:
                raise errors.token_expired()
            return record.key

    def expire_all_tokens(self) -> None:
        """Make every token issued so far expired."""
        with self.lock:
            for record in self._tokens.values():
                record.revoked = True

    # ----- rate limit, stats, faults ------------------------------------------------------------

    def admit_call(self, key: str | None, arrival: float, label: str) -> bool:
        """Record a D&B call's arrival; False when the key's per-second budget is already used."""
        with self.lock:
            self.stats.record_arrival(key, arrival, label)
            limit = self.config.rate_limit_per_second
            if limit is None or key is None:
                return True
            accepted = self._accepted.setdefault(key, deque())
            _drop_older_than(accepted, arrival - _WINDOW_SECONDS)
            if len(accepted) >= limit:
                return False
            accepted.append(arrival)
            return True

    def record_response(self, status: int) -> None:
        """Count one D&B response by HTTP status."""
        with self.lock:
            self.stats.responses_by_status[str(status)] += 1

    def draw_faults(self, path: str) -> FaultDraw:
        """Decide which injected faults hit this call."""
        with self.lock:
            draw = self.faults.draw(path)
            if draw.latency_seconds:
                self.stats.faults_fired["latency"] += 1
            if draw.kind:
                self.stats.faults_fired[draw.kind] += 1
            return draw

    def set_faults(self, faults: Faults) -> dict[str, Any]:
        """Replace the active fault set; returns its description."""
        with self.lock:
            self.faults = faults
            return faults.describe()

    def describe_faults(self) -> dict[str, Any]:
        """The active fault set."""
        with self.lock:
            return self.faults.describe()

    def note_successful_call(self) -> None:
        """Count a successful bearer call toward ``token_expiry_after_calls``."""
        with self.lock:
            if self.faults.note_successful_call():
                self.expire_all_tokens()

    def stats_json(self) -> dict[str, Any]:
        """Counters for ``/_emulator/stats`` (expiry is brought up to date first)."""
        with self.lock:
            self._tick_all()
            return self.stats.as_json()

    # ----- registrations -----------------------------------------------------------------------

    def create_registration(self, spec: RegistrationSpec) -> Registration:
        """Create a registration (subjects included); raises ``DuplicateRegistration``."""
        with self.lock:
            if spec.reference in self._registrations:
                raise DuplicateRegistration(spec.reference)
            now = self.now()
            registration = Registration(spec=spec, created_at=now, updated_at=now, suppressed=spec.suppressed)
            self._registrations[spec.reference] = registration
            for duns in spec.subjects:
                self._add_subject(registration, duns)
            return registration

    def references(self) -> list[str]:
        """References of every registration, in creation order."""
        with self.lock:
            return list(self._registrations)

    def ensure_registration(self, reference: str) -> None:
        """Raise 21501 unless the registration exists."""
        with self.lock:
            self._registration(reference)

    def registration_messages(self, reference: str) -> dict[str, Any]:
        """``messages`` of the details response."""
        with self.lock:
            return self._registration(reference).messages()

    def add_subject(self, reference: str, duns: str) -> None:
        """Add one DUNS; raises 21012 when present. Queues a SEED when the registration seeds."""
        with self.lock:
            registration = self._registration(reference)
            if duns in registration.subjects:
                raise errors.duns_already_present(duns)
            self._add_subject(registration, duns)

    def remove_subject(self, reference: str, duns: str) -> None:
        """Remove one DUNS; raises 10001 when absent. Already generated notifications stay queued."""
        with self.lock:
            registration = self._registration(reference)
            if duns not in registration.subjects:
                raise errors.duns_not_found(duns)
            del registration.subjects[duns]
            registration.updated_at = self.now()

    def has_subject(self, reference: str, duns: str) -> bool:
        """Whether the registration monitors ``duns``."""
        with self.lock:
            return duns in self._registration(reference).subjects

    def submit_batch(self, reference: str, add_text: str | None, remove_text: str | None) -> None:
        """Accept a batch subject upload; it is applied after ``batch_apply_delay_seconds``."""
        with self.lock:
            registration = self._registration(reference)
            registration.batches.append(
                PendingBatch(
                    due=time.monotonic() + self.config.batch_apply_delay_seconds,
                    adds=(add_text or "").splitlines(),
                    removes=(remove_text or "").splitlines(),
                )
            )
        if self.config.batch_apply_delay_seconds == 0:
            self.tick()

    def set_suppressed(self, reference: str, suppressed: bool) -> None:
        """Hold (True) or release (False) the registration's notifications."""
        with self.lock:
            registration = self._registration(reference)
            if registration.suppressed and not suppressed:
                now = self.now()
                # Held notifications only start ageing once they become pullable.
                for item in registration.pending:
                    item.expiry_base = max(item.expiry_base, now)
            registration.suppressed = suppressed
            registration.updated_at = self.now()

    def admin_view(self, reference: str) -> dict[str, Any]:
        """Everything about one registration, for ``GET /_emulator/registrations/{reference}``."""
        with self.lock:
            registration = self._registration(reference)
            return {
                "reference": registration.reference,
                "messages": registration.messages(),
                "subjects": list(registration.subjects),
                "suppressed": registration.suppressed,
                "pending": len(registration.pending),
                "delivered": len(registration.delivered),
                "pending_batches": len(registration.batches),
                "rejected_batch_lines": [r.as_json() for r in registration.rejected_lines],
                "stream": registration.stream.as_json() if registration.stream else None,
            }

    # ----- notifications -----------------------------------------------------------------------

    def queue_notifications(self, reference: str, notifications: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Queue notifications as given; returns (queued, pending)."""
        with self.lock:
            registration = self._registration(reference)
            queued = self._queue(registration, notifications)
            return queued, len(registration.pending)

    def generate_notifications(
        self,
        reference: str,
        count: int,
        types: Mapping[str, float] | None = None,
        duns: Sequence[str] | None = None,
    ) -> tuple[int, int]:
        """Queue ``count`` generated notifications (DUNS default to the subjects); returns (queued, pending)."""
        with self.lock:
            registration = self._registration(reference)
            subjects = list(duns or registration.subjects) or None
            now = self.now()
        notifications = self._generate(count, now, types, subjects)
        return self.queue_notifications(reference, notifications)

    def set_stream(self, reference: str, per_minute: float, types: Mapping[str, float] | None) -> Stream | None:
        """Start (rate > 0), change, or stop (rate 0) a registration's live stream."""
        with self.lock:
            registration = self._registration(reference)
            if per_minute <= 0:
                registration.stream = None
            else:
                registration.stream = Stream(per_minute=per_minute, types=dict(types) if types else None)
            return registration.stream

    def pump_streams(self) -> int:
        """Queue what every live stream owes since its last pump; returns how many were queued."""
        plans: list[tuple[Registration, int, dict[str, float] | None, list[str] | None]] = []
        with self.lock:
            moment = time.monotonic()
            for registration in self._registrations.values():
                stream = registration.stream
                if stream is None:
                    continue
                if stream.last_tick is not None:
                    stream.owed += stream.per_minute / 60.0 * (moment - stream.last_tick)
                stream.last_tick = moment
                due = int(stream.owed)
                if due:
                    stream.owed -= due
                    plans.append((registration, due, stream.types, list(registration.subjects) or None))
            now = self.now()
        queued = 0
        for registration, due, types, subjects in plans:
            notifications = self._generate(due, now, types, subjects)
            with self.lock:
                # A reset or re-creation in the meantime means this stream no longer exists.
                if self._registrations.get(registration.reference) is registration:
                    queued += self._queue(registration, notifications)
        return queued

    def pull(self, reference: str, max_notifications: int) -> list[dict[str, Any]]:
        """Destructive read: hand out up to ``max_notifications`` and log them as delivered."""
        with self.lock:
            registration = self._pull_registration(reference)
            now = self.now()
            if registration.suppressed or not registration.pending:
                raise errors.no_notifications()
            taken = registration.pending[:max_notifications]
            del registration.pending[:max_notifications]
            moment = self._delivery_moment(registration, now)
            stamp = format_millis(moment)
            delivered = []
            for item in taken:
                body = {k: v for k, v in item.notification.items() if k != "deliveryTimeStamp"}
                body["deliveryTimeStamp"] = stamp
                delivery = Delivery(reference, moment, stamp, body)
                registration.delivered.append(delivery)
                registration.delivered_at.append(moment)
                self._log.append(delivery)
                delivered.append(body)
            return delivered

    def replay(self, reference: str, start: datetime, max_notifications: int) -> list[dict[str, Any]]:
        """Non-destructive: delivered notifications stamped strictly after ``start``, ascending."""
        with self.lock:
            registration = self._pull_registration(reference)
            now = self.now()
            latest = max(now, registration.last_delivery() or now)
            if start > latest:
                raise errors.invalid_parameter("replayStartTimestamp", "must not be in the future")
            horizon = now - timedelta(seconds=self.config.replay_window_seconds)
            if start < horizon:
                days = self.config.replay_window_seconds / 86400
                raise errors.invalid_parameter(
                    "replayStartTimestamp", f"must be within the replay window of {days:g} days"
                )
            first = max(
                bisect.bisect_right(registration.delivered_at, start),
                bisect.bisect_left(registration.delivered_at, horizon),
            )
            selected = registration.delivered[first : first + max_notifications]
            if not selected:
                raise errors.no_notifications()
            return [delivery.notification for delivery in selected]

    def deliveries(self, reference: str | None = None) -> list[dict[str, Any]]:
        """The delivery log (optionally of one registration), oldest first."""
        with self.lock:
            return [d.as_json() for d in self._log if reference is None or d.reference == reference]

    def tick(self) -> None:
        """Apply due batch uploads and expire old notifications everywhere."""
        with self.lock:
            self._tick_all()

    # ----- internals (call with the lock held) -----------------------------------------------

    def _registration(self, reference: str) -> Registration:
        registration = self._registrations.get(reference)
        if registration is None:
            raise errors.registration_not_found(reference)
        self._tick(registration)
        return registration

    def _pull_registration(self, reference: str) -> Registration:
        registration = self._registration(reference)
        if registration.spec.delivery_trigger != API_PULL:
            raise errors.not_api_pull(reference)
        return registration

    def _tick_all(self) -> None:
        for registration in self._registrations.values():
            self._tick(registration)

    def _tick(self, registration: Registration) -> None:
        self._apply_due_batches(registration)
        self._expire(registration)

    def _expire(self, registration: Registration) -> None:
        if registration.suppressed or not registration.pending:
            return
        cutoff = self.now() - timedelta(seconds=self.config.pull_expiry_seconds)
        kept = [item for item in registration.pending if item.expiry_base >= cutoff]
        self.stats.expired_notifications += len(registration.pending) - len(kept)
        registration.pending = kept

    def _apply_due_batches(self, registration: Registration) -> None:
        moment = time.monotonic()
        while registration.batches and registration.batches[0].due <= moment:
            batch = registration.batches.pop(0)
            for duns in _valid_lines(registration, "add", batch.adds):
                if duns not in registration.subjects:
                    self._add_subject(registration, duns)
            for duns in _valid_lines(registration, "remove", batch.removes):
                registration.subjects.pop(duns, None)
            registration.updated_at = self.now()

    def _add_subject(self, registration: Registration, duns: str) -> None:
        registration.subjects[duns] = None
        registration.updated_at = self.now()
        if registration.spec.seed_data:
            seed = self._generate(1, self.now(), {"SEED": 1.0}, [duns])
            self._queue(registration, seed)

    def _queue(self, registration: Registration, notifications: Iterable[Mapping[str, Any]]) -> int:
        now = self.now()
        count = 0
        for notification in notifications:
            self._seq += 1
            item = QueuedNotification(now, self._seq, dict(notification), now)
            bisect.insort(registration.pending, item, key=QueuedNotification.order_key)
            count += 1
        return count

    def _delivery_moment(self, registration: Registration, now: datetime) -> datetime:
        moment = now.replace(microsecond=now.microsecond // 1000 * 1000)
        last = registration.last_delivery()
        # Two pulls of one registration never share a deliveryTimeStamp, so Replay's ">" is exact.
        if last is not None and moment <= last:
            moment = last + _ONE_MS
        return moment

    def _generate(
        self, count: int, now: datetime, types: Mapping[str, float] | None, duns: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        with self._generator_lock:
            if self._generator is None:
                # Imported late so the HTTP surface works even where only queued-as-given content is used.
                from monitoring_pipeline.fakes.dnb_emulator.generator import NotificationGenerator

                self._generator = NotificationGenerator()
            return self._generator.generate(count, now, types=types, duns=duns)


def _valid_lines(registration: Registration, operation: str, lines: list[str]) -> list[str]:
    """Well-formed DUNS lines of a batch file; the others are recorded as rejected."""
    valid = []
    for number, raw in enumerate(lines, start=1):
        value = raw.strip().lstrip("\ufeff")
        if not value:
            continue
        if is_duns(value):
            valid.append(value)
        else:
            registration.rejected_lines.append(BatchRejection(operation, number, value[:64], "not a 9-digit DUNS"))
    return valid


def _drop_older_than(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()
