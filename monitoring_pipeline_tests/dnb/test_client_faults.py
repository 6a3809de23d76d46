"""Faults during a drain: 429 storms, 5xx, truncated JSON, dropped connections. Nothing lost or repeated."""

from __future__ import annotations

import time

import pytest

from monitoring_pipeline.dnb.errors import DnbCircuitOpenError, DnbRateLimitError, DnbServerError
from monitoring_pipeline.retry import Backoff
from monitoring_pipeline_tests.dnb.ground_truth import assert_exactly_once, delivered_keys
from monitoring_pipeline_tests.waiting import eventually


@pytest.fixture
def loaded(admin):
    admin.create_registration("FAULTS")
    admin.generate("FAULTS", 500, types={"UPDATE": 0.9, "SEED": 0.02, "DELETE": 0.04, "TRANSFER": 0.04})
    return "FAULTS"


@pytest.mark.parametrize("retry_after", [None, 0.2])
def test_429_storm_is_waited_out(client, admin, loaded, retry_after):
    admin.faults(http_429={"count": 6, "retry_after": retry_after, "paths": ["notifications"]})

    pages = list(client.drain(loaded))

    assert assert_exactly_once(admin, loaded, pages) == 500
    assert client.stats.responses_429 == 6
    assert client.stats.retries == 6
    assert client.stats.lost_pull_responses == 0  # a 429 proves nothing was consumed


@pytest.mark.parametrize(
    "fault",
    [
        {"http_5xx": {"count": 3, "status": 503, "paths": ["notifications"]}},
        {"http_5xx": {"count": 2, "status": 502, "paths": ["notifications"]}},
        {"truncate_json": {"count": 2, "paths": ["notifications"]}},
        {"drop_connection": {"count": 2, "paths": ["notifications"]}},
    ],
    ids=["503", "502-html", "truncated-json", "dropped-connection"],
)
def test_lost_pull_responses_are_healed_through_replay(client, admin, loaded, fault):
    admin.faults(**fault)

    drain = client.drain(loaded)
    pages = list(drain)

    assert assert_exactly_once(admin, loaded, pages) == 500
    assert drain.lost_responses >= 1
    assert drain.resume_from == max(p.last_delivery for p in pages)


def test_random_faults_everywhere_lose_nothing(client, admin, loaded):
    admin.faults(
        http_429={"probability": 0.1},
        http_5xx={"probability": 0.05, "status": 500},
        truncate_json={"probability": 0.05},
        drop_connection={"probability": 0.05},
    )
    pages = list(client.drain(loaded, page_size=25))
    admin.clear_faults()
    pages += list(client.drain(loaded))  # anything a final heal could not reach is still queued or replayable
    assert assert_exactly_once(admin, loaded, pages) == 500


def test_server_errors_on_safe_calls_are_retried(client, admin):
    admin.create_registration("RETRY_LIST")
    admin.faults(http_5xx={"count": 3, "status": 500, "paths": ["registrations"]})
    assert client.list_registrations() == ["RETRY_LIST"]
    assert client.stats.retries == 3


def test_retries_are_bounded_then_the_breaker_fails_fast(make_client, admin):
    client = make_client(max_attempts=3, breaker_failure_threshold=3, breaker_reset_seconds=60)
    client.list_registrations()  # token fetched before the API dies
    admin.faults(http_5xx={"count": 1000, "status": 500, "paths": ["registrations"]})
    calls_before = admin.stats()["calls_total"]

    with pytest.raises(DnbServerError):
        client.list_registrations()
    assert admin.stats()["calls_total"] - calls_before == 3
    with pytest.raises(DnbCircuitOpenError):
        client.list_registrations()
    assert admin.stats()["calls_total"] - calls_before == 3  # failed fast, no call made
    assert client.breaker.state == "open"


def test_backoff_honours_retry_after_and_grows_exponentially_with_jitter():
    backoff = Backoff(initial_seconds=1.0, max_seconds=8.0, max_retry_after_seconds=60)
    assert backoff.delay(1, retry_after=2.5) == 2.5
    assert backoff.delay(1, retry_after=600) == 60
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [backoff.delay(attempt) for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits)
        assert len(set(waits)) > 1


def test_timeouts_on_safe_calls_are_retried(make_client, admin):
    admin.create_registration("SLOW_LIST")
    client = make_client(timeout_seconds=0.3)
    client.list_registrations()
    admin.faults(latency={"seconds": 1.0, "count": 1, "paths": ["registrations"]})
    assert client.list_registrations() == ["SLOW_LIST"]
    assert client.stats.retries == 1


def test_a_timed_out_pull_completing_later_is_recovered_by_the_next_drain(make_client, admin, loaded):
    client = make_client(timeout_seconds=0.2)
    admin.faults(latency={"seconds": 0.6, "count": 1, "paths": ["notifications"]})

    first = client.drain(loaded)
    first_pages = list(first)
    eventually(lambda: len(admin.deliveries(loaded)) >= 500)
    # The timed-out Pull may complete after the drain: the cursor must not have moved past it.
    assert first.lost_responses == 1
    second_pages = list(client.drain(loaded, since=first.resume_from))

    store = {key for page in first_pages + second_pages for key in page.keys}  # idempotent landing
    assert store == set(delivered_keys(admin, loaded))
    assert len(store) == 500


def test_a_cursor_older_than_the_replay_window_does_not_block_pulling(client, admin, loaded):
    old_cursor = list(client.drain(loaded, max_pages=1))[0].last_delivery
    admin.advance_clock(15 * 24 * 3600)
    admin.generate(loaded, 5)
    drain = client.drain(loaded, since=old_cursor)
    pages = list(drain)
    assert drain.replay_refused
    assert sum(len(p) for p in pages) == 5  # the 399 older ones expired un-pulled after 4 days


def test_retries_inside_a_drain_stop_at_the_drain_deadline(client, admin, loaded):
    admin.faults(http_429={"count": 10_000, "paths": ["notifications"]})
    calls_before = admin.stats()["calls_total"]
    with pytest.raises(DnbRateLimitError):
        list(client.drain(loaded, deadline=time.monotonic() + 1.0))
    # Without the deadline the call would keep retrying for up to 10 attempts over 30 s.
    assert admin.stats()["calls_total"] - calls_before < 10
    assert client.call_deadline is None  # restored for later calls
