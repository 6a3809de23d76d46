"""D&B Direct+ Monitoring client: typed calls, shared token and rate limit, retries and a breaker."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from monitoring_pipeline.dnb.auth import ApiVersion, TokenProvider, oauth_error
from monitoring_pipeline.dnb.errors import (
    ALREADY_PRESENT_CODE,
    AUTH_ERROR_CODES,
    NO_NOTIFICATIONS_CODE,
    RATE_LIMIT_ERROR_CODES,
    DnbApiError,
    DnbAuthError,
    DnbError,
    DnbMalformedResponseError,
    DnbNotFoundError,
    DnbRateLimitError,
    DnbRequestError,
    DnbResponseLostError,
    DnbServerError,
    DnbTransportError,
    error_reason,
)
from monitoring_pipeline.dnb.identifiers import validate_duns, validate_reference
from monitoring_pipeline.dnb.models import (
    InformationResponse,
    NotificationPage,
    RegistrationDetails,
    RegistrationList,
    SubjectChange,
)
from monitoring_pipeline.dnb.ratelimit import RateLimiter, UnlimitedRateLimiter
from monitoring_pipeline.dnb.resilience import CircuitBreaker
from monitoring_pipeline.dnb.timestamps import format_millis, parse_dnb_timestamp
from monitoring_pipeline.dnb.token_cache import MemoryTokenCache, TokenCache
from monitoring_pipeline.retry import RetryPolicy, parse_retry_after, retrying

log = logging.getLogger(__name__)

PRODUCTION_BASE_URL = "https://plus.dnb.com"
MONITORING = "/v1/monitoring/registrations"
MAX_PAGE_SIZE = 100


@dataclass
class ClientStats:
    """Counters for run metadata and benchmarks (no payloads, no secrets)."""

    calls: int = 0
    retries: int = 0
    responses_429: int = 0
    rate_limit_wait_seconds: float = 0.0
    token_refreshes_after_rejection: int = 0
    lost_pull_responses: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # failed exchanges by reason (errors.error_reason)


class DnbClient:
    """One consumer key on one D&B Direct+ environment.

    Every HTTP call (token calls included) waits for the shared rate limiter, passes the circuit
    breaker, and is retried per ``retry_policy`` on 429, 5xx, timeouts and dropped connections.
    A Pull, being a destructive read, is never retried blindly after its request may have reached
    D&B: it raises ``DnbResponseLostError`` and ``drain`` heals the gap through Replay.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        api_version: ApiVersion = "v3",
        timeout_seconds: float = 30.0,
        rate_limiter: RateLimiter | None = None,
        token_cache: TokenCache | None = None,
        retry_policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry_policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.rate_limiter = rate_limiter or UnlimitedRateLimiter()
        self.stats = ClientStats()
        self.last_server_time: datetime | None = None
        self.call_deadline: float | None = None  # time.monotonic() after which no retry is started
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            headers={"Accept": "application/json", "User-Agent": "monitoring-pipeline/0.1"},
            transport=transport,
        )
        self.tokens = TokenProvider(
            self._send_with_retries,
            client_id,
            client_secret,
            token_cache or MemoryTokenCache(),
            api_version=api_version,
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DnbClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- registrations -----------------------------------------------------------------------------
    def list_registrations(self) -> list[str]:
        """References of every registration visible to this consumer key."""
        return RegistrationList.model_validate(self._call("GET", MONITORING)).references

    def get_registration(self, reference: str) -> RegistrationDetails:
        return RegistrationDetails.model_validate(self._call("GET", _registration_path(reference)))

    def create_registration(self, fields: Mapping[str, Any]) -> RegistrationDetails:
        """Create a registration (a D&B-internal call; offered by the emulator for tests and demos)."""
        validate_reference(fields.get("reference"))
        form = {key: _form_value(value) for key, value in fields.items() if value is not None}
        files = {key: (None, value) for key, value in form.items()}
        return RegistrationDetails.model_validate(self._call("POST", MONITORING, files=files))

    def add_subject(self, reference: str, duns: str) -> SubjectChange:
        """Add one DUNS; "already in the registration" (21012) counts as success."""
        path = f"{_registration_path(reference)}/subjects/{validate_duns(duns)}"
        try:
            body = self._call("POST", path)
        except DnbApiError as error:
            if error.error_code == ALREADY_PRESENT_CODE:
                return SubjectChange(reference, duns, error.error_code, already_in_desired_state=True)
            raise
        return SubjectChange(reference, duns, InformationResponse.model_validate(body).code)

    def remove_subject(self, reference: str, duns: str) -> SubjectChange:
        """Remove one DUNS; a DUNS that is not there (10001) counts as success."""
        path = f"{_registration_path(reference)}/subjects/{validate_duns(duns)}"
        try:
            body = self._call("DELETE", path)
        except DnbNotFoundError as error:
            if error.error_code == "10001":
                return SubjectChange(reference, duns, error.error_code, already_in_desired_state=True)
            raise
        return SubjectChange(reference, duns, InformationResponse.model_validate(body).code)

    def has_subject(self, reference: str, duns: str) -> bool:
        path = f"{_registration_path(reference)}/subjects/{validate_duns(duns)}"
        try:
            self._call("GET", path)
        except DnbNotFoundError as error:
            if error.error_code == "10001":
                return False
            raise
        return True

    def batch_add_subjects(self, reference: str, duns: Iterable[str]) -> InformationResponse:
        """Upload many DUNS at once (202, 21108); D&B applies them asynchronously."""
        return self._batch(reference, "addSubjectIDs", duns)

    def batch_remove_subjects(self, reference: str, duns: Iterable[str]) -> InformationResponse:
        return self._batch(reference, "removeSubjectIDs", duns)

    def _batch(self, reference: str, part: str, duns: Iterable[str]) -> InformationResponse:
        lines = "\n".join(validate_duns(d) for d in duns) + "\n"
        files = {part: (f"{part}.txt", lines.encode("ascii"), "text/plain")}
        body = self._call("PATCH", f"{_registration_path(reference)}/subjects", files=files)
        return InformationResponse.model_validate(body)

    def suppress(self, reference: str) -> None:
        self._call("PUT", f"{_registration_path(reference)}/suppress")

    def unsuppress(self, reference: str) -> None:
        """Release notifications held since the seed."""
        self._call("DELETE", f"{_registration_path(reference)}/suppress")

    # -- notifications -----------------------------------------------------------------------------
    def pull(self, reference: str, max_notifications: int = MAX_PAGE_SIZE) -> NotificationPage | None:
        """One destructive Pull; ``None`` when nothing is waiting (404 21502)."""
        body = self._call(
            "GET",
            f"{_registration_path(reference)}/notifications",
            params={"maxNotifications": _page_size(max_notifications)},
            destructive=True,
            empty_code=NO_NOTIFICATIONS_CODE,
        )
        return None if body is None else _page(reference, body, "pull")

    def replay(
        self, reference: str, after: datetime, max_notifications: int = MAX_PAGE_SIZE
    ) -> NotificationPage | None:
        """Notifications delivered strictly after ``after`` (up to 14 days back); ``None`` when none."""
        body = self._call(
            "GET",
            f"{_registration_path(reference)}/notifications/replay",
            params={"replayStartTimestamp": format_millis(after), "maxNotifications": _page_size(max_notifications)},
            empty_code=NO_NOTIFICATIONS_CODE,
        )
        return None if body is None else _page(reference, body, "replay")

    def drain(
        self,
        reference: str,
        *,
        since: datetime | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int | None = None,
        deadline: float | None = None,
        replay_first: bool = True,
    ) -> PullDrain:
        """Pull until the queue is empty (or a page or time budget ends); see ``PullDrain``."""
        return PullDrain(
            self,
            reference,
            since=since,
            page_size=page_size,
            max_pages=max_pages,
            deadline=deadline,
            replay_first=replay_first,
        )

    def replay_window(
        self,
        reference: str,
        start: datetime,
        end: datetime | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
        include_start: bool = True,
    ) -> Iterator[NotificationPage]:
        """Every notification delivered in ``[start, end)``, page by page, each exactly once.

        Replay has no paging token: each call continues from the last ``deliveryTimeStamp`` seen,
        restarting one millisecond early because one Pull's notifications share a timestamp, and
        de-duplicating by content key. Replay has no offset either, so ``page_size`` must be at
        least the largest Pull page (keep the default 100) or the tail of a same-timestamp group
        could never be reached. ``include_start=False`` makes the window ``(start, end)``.
        """
        seen: set[str] = set()
        after = start - timedelta(milliseconds=1) if include_start else start
        while True:
            page = self.replay(reference, after, page_size)
            if page is None:
                return
            fresh = _unseen(page, seen, not_before=start, before=end, exclude_start=not include_start)
            if fresh.notifications:
                yield fresh
            last = page.last_delivery
            if len(page) < page_size or last is None or (end is not None and last >= end):
                return
            # No progress means a full page of one timestamp: step strictly past it.
            after = last - timedelta(milliseconds=1) if fresh.notifications else last

    # -- HTTP ----------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        destructive: bool = False,
        empty_code: str | None = None,
        **request: Any,
    ) -> dict[str, Any] | None:
        """An authenticated Direct+ call returning its JSON body (``None`` for ``empty_code``)."""
        refreshed = False
        while True:
            token = self.tokens.get()
            try:
                _, body = self._send_with_retries(
                    method, path, destructive=destructive, headers={"Authorization": f"Bearer {token}"}, **request
                )
            except DnbApiError as error:
                if empty_code and error.error_code == empty_code:
                    return None
                if isinstance(error, DnbAuthError) and error.error_code in AUTH_ERROR_CODES and not refreshed:
                    # Expired or revoked token: refresh once, retry the call once.
                    self.tokens.invalidate(token)
                    self.stats.token_refreshes_after_rejection += 1
                    refreshed = True
                    continue
                raise
            return body

    def _send_with_retries(
        self, method: str, path: str, *, destructive: bool = False, **request: Any
    ) -> tuple[httpx.Response, dict[str, Any]]:
        def retryable(error: BaseException) -> bool:
            if not isinstance(error, DnbError) or not error.retryable:
                return False
            if destructive and not isinstance(error, DnbRateLimitError):
                # Only a 429 or a connection never made proves a Pull consumed nothing.
                return isinstance(error, DnbTransportError) and not error.request_sent
            return True

        def on_retry(attempt: int, error: BaseException, wait: float) -> None:
            self.stats.retries += 1
            log.warning("D&B %s %s failed (attempt %d): %s; retrying", method, _redact_path(path), attempt, error)

        # Errors carry D&B's Retry-After (``retry_after``); retries stop at a drain's deadline too.
        attempts = retrying(self.retry_policy, retryable=retryable, deadline=self.call_deadline, on_retry=on_retry)
        try:
            return attempts(self._send, method, path, **request)
        except (DnbTransportError, DnbMalformedResponseError, DnbServerError) as error:
            if destructive and not (isinstance(error, DnbTransportError) and not error.request_sent):
                self.stats.lost_pull_responses += 1
                raise DnbResponseLostError(
                    f"D&B Pull {_redact_path(path)} may have consumed notifications whose response was lost: {error}",
                    cause=error,
                ) from error
            raise

    def _send(
        self, method: str, path: str, *, authenticated: bool = True, **request: Any
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """One HTTP exchange through the rate limiter and breaker: the response and its JSON body."""
        self.breaker.before_call()
        self.stats.rate_limit_wait_seconds += self.rate_limiter.acquire()
        self.stats.calls += 1
        try:
            return self._exchange(method, path, authenticated=authenticated, **request)
        except DnbError as error:
            reason = error_reason(error)
            if reason is not None:
                self.stats.errors[reason] += 1
            raise

    def _exchange(
        self, method: str, path: str, *, authenticated: bool, **request: Any
    ) -> tuple[httpx.Response, dict[str, Any]]:
        try:
            response = self._http.request(method, path, **request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self.breaker.record_failure()
            raise DnbTransportError(f"cannot connect to D&B: {type(exc).__name__}", request_sent=False) from exc
        except httpx.TransportError as exc:
            self.breaker.record_failure()
            raise DnbTransportError(
                f"D&B exchange failed after the request was sent: {type(exc).__name__}",
                request_sent=True,
                may_complete_later=isinstance(exc, httpx.TimeoutException),
            ) from exc
        if not response.is_success:
            if response.status_code >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise self._error_from(response, authenticated)
        try:
            body = _json_body(response)
        except DnbMalformedResponseError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        transaction = body.get("transactionDetail")
        if isinstance(transaction, dict):
            self._note_server_time(transaction)
        return response, body

    def _error_from(self, response: httpx.Response, authenticated: bool) -> DnbError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if 400 <= status < 500 and status != 429:
                # Without an errorCode a 4xx cannot be told apart (empty queue? unknown DUNS?): a garbled
                # response, to be retried like one.
                return DnbMalformedResponseError(
                    f"D&B answered {status} with a body that is not a Direct+ error envelope", http_status=status
                )
            body = {}
        if not authenticated and "error" in body and not isinstance(body["error"], dict):
            return oauth_error(response, body)
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        transaction = body.get("transactionDetail") if isinstance(body.get("transactionDetail"), dict) else {}
        self._note_server_time(transaction)
        code = error.get("errorCode")
        message = str(error.get("errorMessage") or response.reason_phrase or "error")
        details = [d for d in error.get("errorDetails") or [] if isinstance(d, dict)]
        kwargs = {
            "error_code": str(code) if code is not None else None,
            "http_status": status,
            "transaction_id": transaction.get("transactionID"),
            "details": details,
        }
        if status == 429 or kwargs["error_code"] in RATE_LIMIT_ERROR_CODES:
            self.stats.responses_429 += 1
            return DnbRateLimitError(message, retry_after=_retry_after(response), **kwargs)
        if status >= 500:
            return DnbServerError(message, retry_after=_retry_after(response), **kwargs)
        if status == 401 or kwargs["error_code"] in AUTH_ERROR_CODES:
            return DnbAuthError(message, **kwargs)
        if status == 404:
            return DnbNotFoundError(message, **kwargs)
        if status == 409 and kwargs["error_code"] == ALREADY_PRESENT_CODE:
            return DnbApiError(message, **kwargs)
        return DnbRequestError(message, **kwargs)

    def _note_server_time(self, transaction: Mapping[str, Any]) -> None:
        stamp = transaction.get("transactionTimestamp")
        if isinstance(stamp, str):
            with suppress(ValueError):
                self.last_server_time = parse_dnb_timestamp(stamp)


class PullDrain:
    """Iterates Pull pages until D&B has nothing left, healing lost responses through Replay.

    Consume it page by page and land each page durably before asking for the next: the next Pull
    happens only when the iterator is advanced. After landing a page, persist ``resume_from`` as
    the cursor: the point a later Replay must start from so that nothing delivered to us can be
    missed. It trails behind while a lost response is unhealed, and stays at the gap after a
    timed-out Pull, which D&B may complete after we gave up on it.

    With ``since`` (the cursor), the drain first replays from it: that lands whatever a crash
    between a Pull and its write left behind. Landing must be idempotent by content key, since
    those notifications may already be stored.
    """

    def __init__(
        self,
        client: DnbClient,
        reference: str,
        *,
        since: datetime | None,
        page_size: int,
        max_pages: int | None,
        deadline: float | None,
        replay_first: bool = True,
    ) -> None:
        self.client = client
        self.replay_first = replay_first and since is not None
        self.reference = validate_reference(reference)
        self.since = since
        self.page_size = _page_size(page_size)
        self.max_pages = max_pages
        self.deadline = deadline
        self.resume_from: datetime | None = since
        self.pages = 0
        self.notifications = 0
        self.recovered = 0
        self.lost_responses = 0
        self.exhausted = False  # True once D&B answered "no notifications"
        self.replay_refused = False  # the cursor was older than D&B's replay window
        self._seen: set[str] = set()
        self._latest: datetime | None = since

    def __iter__(self) -> Iterator[NotificationPage]:
        # Retries inside one call stop at the drain's deadline too (a sensor tick must end in time).
        previous_deadline, self.client.call_deadline = self.client.call_deadline, self.deadline
        try:
            yield from self._pages()
        finally:
            self.client.call_deadline = previous_deadline

    def _pages(self) -> Iterator[NotificationPage]:
        gap_from: datetime | None = None
        unsettled = False  # a timed-out Pull may still complete on D&B's side
        consecutive_losses = 0
        if self.replay_first and self.since is not None:
            try:
                yield from self._heal(self.since)
            except DnbRequestError as error:
                if error.error_code != "10002":
                    raise
                # The cursor is older than D&B's replay window: what it missed is beyond recovery.
                log.warning("D&B refused to replay %s from its cursor (%s); pulling on", self.reference, error)
                self.replay_refused = True
            self.resume_from = self._latest
        while not self._out_of_budget():
            try:
                page = self.client.pull(self.reference, self.page_size)
            except DnbResponseLostError as lost:
                self.lost_responses += 1
                consecutive_losses += 1
                unsettled = unsettled or lost.may_complete_later
                if consecutive_losses >= self.client.retry_policy.max_attempts:
                    raise
                gap_from = gap_from or self._heal_start()
                time.sleep(self.client.retry_policy.backoff.delay(consecutive_losses))
                # Heal now, before any later page can move the caller's cursor past the gap.
                yield from self._heal(gap_from)
                continue
            consecutive_losses = 0
            if page is None:
                self.exhausted = True
                break
            fresh = self._accept(page)
            self.pages += 1
            if gap_from is None:
                self.resume_from = self._latest
            if fresh.notifications:
                yield fresh
        if gap_from is not None:
            # A lost response's notifications may have been stamped after our first heal.
            yield from self._heal(gap_from)
            self.resume_from = gap_from if unsettled else self._latest

    def _out_of_budget(self) -> bool:
        if self.max_pages is not None and self.pages >= self.max_pages:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _heal_start(self) -> datetime:
        if self._latest is not None:
            return self._latest
        # Nothing delivered yet in this drain and no cursor given: look back a little from D&B's clock.
        reference_time = self.client.last_server_time or datetime.now().astimezone()
        return reference_time - timedelta(minutes=2)

    def _heal(self, gap_from: datetime) -> Iterator[NotificationPage]:
        # Strictly after: the page stamped ``gap_from`` was yielded whole (one Pull, one timestamp).
        for page in self.client.replay_window(self.reference, gap_from, include_start=False):
            fresh = self._accept(page)
            if fresh.notifications:
                fresh.recovered = True
                self.recovered += len(fresh)
                yield fresh

    def _accept(self, page: NotificationPage) -> NotificationPage:
        fresh = _unseen(page, self._seen, not_before=self.since)
        self.notifications += len(fresh)
        last = page.last_delivery
        if last is not None and (self._latest is None or last > self._latest):
            self._latest = last
        return fresh


# -- helpers ---------------------------------------------------------------------------------------
def _registration_path(reference: str) -> str:
    return f"{MONITORING}/{quote(validate_reference(reference), safe='')}"


def _redact_path(path: str) -> str:
    return path.split("?", 1)[0]


def _page_size(value: int) -> int:
    if not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ValueError(f"maxNotifications must be an integer from 1 to {MAX_PAGE_SIZE}, got {value!r}")
    return value


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


def _json_body(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError as exc:
        raise DnbMalformedResponseError(
            f"D&B answered {response.status_code} with a body that is not valid JSON",
            http_status=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise DnbMalformedResponseError(
            "D&B answered with JSON that is not an object", http_status=response.status_code
        )
    return body


def _page(reference: str, body: dict[str, Any], source: str) -> NotificationPage:
    transaction = body.get("transactionDetail") if isinstance(body.get("transactionDetail"), dict) else {}
    notifications = body.get("notifications") or []
    if not isinstance(notifications, list):
        notifications = [notifications]
    return NotificationPage(
        reference=reference,
        notifications=notifications,
        transaction_id=transaction.get("transactionID"),
        source=source,
    )


def _unseen(
    page: NotificationPage,
    seen: set[str],
    *,
    not_before: datetime | None = None,
    before: datetime | None = None,
    exclude_start: bool = False,
) -> NotificationPage:
    """The part of ``page`` not yet seen and inside ``[not_before, before)``; marks it seen.

    ``exclude_start`` makes the window open at ``not_before``.
    """
    kept: list[dict[str, Any]] = []
    keys: list[str] = []
    for raw, key in zip(page.notifications, page.keys, strict=True):
        if key in seen:
            continue
        moment = _delivery_time(raw)
        if moment is not None and (
            (not_before is not None and (moment < not_before or (exclude_start and moment == not_before)))
            or (before is not None and moment >= before)
        ):
            continue
        seen.add(key)
        kept.append(raw)
        keys.append(key)
    return NotificationPage(
        reference=page.reference,
        notifications=kept,
        transaction_id=page.transaction_id,
        source=page.source,
        keys=keys,
    )


def _delivery_time(raw: Any) -> datetime | None:
    stamp = raw.get("deliveryTimeStamp") if isinstance(raw, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        return parse_dnb_timestamp(stamp)
    except ValueError:
        return None
