"""Draining Pull and replaying windows: every delivered notification reaches us exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring_pipeline.dnb.errors import DnbRequestError
from monitoring_pipeline.dnb.timestamps import parse_dnb_timestamp
from monitoring_pipeline_tests.dnb.ground_truth import assert_exactly_once, delivered_keys


def test_drain_empties_the_queue_page_by_page(client, admin):
    admin.create_registration("PULL_ALL")
    admin.generate("PULL_ALL", 250, types={"UPDATE": 0.9, "SEED": 0.05, "TRANSFER": 0.05})

    drain = client.drain("PULL_ALL")
    pages = list(drain)

    assert [len(p) for p in pages] == [100, 100, 50]
    assert drain.exhausted and drain.pages == 3 and drain.notifications == 250
    assert assert_exactly_once(admin, "PULL_ALL", pages) == 250
    assert drain.resume_from == max(p.last_delivery for p in pages)
    assert client.pull("PULL_ALL") is None


def test_pull_is_destructive_and_stamps_the_pull_time(client, admin):
    admin.create_registration("PULL_ONE")
    admin.generate("PULL_ONE", 3)

    first = client.pull("PULL_ONE", max_notifications=2)
    second = client.pull("PULL_ONE", max_notifications=2)

    assert (len(first), len(second)) == (2, 1)
    assert len({n["deliveryTimeStamp"] for n in first.notifications}) == 1
    assert first.last_delivery < second.last_delivery
    assert client.pull("PULL_ONE") is None


def test_drain_stops_at_its_page_budget_and_resumes_later(client, admin):
    admin.create_registration("PULL_BUDGET")
    admin.generate("PULL_BUDGET", 30)

    first = client.drain("PULL_BUDGET", page_size=10, max_pages=2)
    pages = list(first)
    assert len(pages) == 2 and not first.exhausted
    rest = list(client.drain("PULL_BUDGET", page_size=10, since=first.resume_from))
    assert assert_exactly_once(admin, "PULL_BUDGET", pages + rest) == 30


@pytest.mark.parametrize("page_size", [0, 101])
def test_page_size_outside_d_and_b_bounds_is_refused(client, page_size):
    with pytest.raises(ValueError, match="maxNotifications"):
        client.pull("ANY_REF", max_notifications=page_size)


def test_replay_window_returns_each_notification_once_even_when_pulls_share_timestamps(client, admin):
    admin.create_registration("REPLAY_GROUPS")
    admin.generate("REPLAY_GROUPS", 120)
    # Pull pages of 40 share one deliveryTimeStamp each; replay pages of 50 cut through those groups.
    pulled = list(client.drain("REPLAY_GROUPS", page_size=40))
    start = min(p.notifications[0]["deliveryTimeStamp"] for p in pulled)

    replayed = list(client.replay_window("REPLAY_GROUPS", parse_dnb_timestamp(start), page_size=50))

    assert assert_exactly_once(admin, "REPLAY_GROUPS", replayed) == 120
    assert all(page.source == "replay" for page in replayed)
    original = {key for page in pulled for key in page.keys}
    assert {key for page in replayed for key in page.keys} == original


def test_replay_window_honours_its_end(client, admin):
    admin.create_registration("REPLAY_END")
    admin.generate("REPLAY_END", 20)
    pages = list(client.drain("REPLAY_END", page_size=5))
    boundary = pages[2].last_delivery

    inside = list(client.replay_window("REPLAY_END", pages[0].last_delivery, end=boundary))

    assert sum(len(p) for p in inside) == 10  # pages 0 and 1, not the one stamped at the boundary
    assert set(k for p in inside for k in p.keys) == set(pages[0].keys) | set(pages[1].keys)


def test_replay_is_non_destructive(client, admin):
    admin.create_registration("REPLAY_TWICE")
    admin.generate("REPLAY_TWICE", 5)
    pulled = list(client.drain("REPLAY_TWICE"))
    start = pulled[0].last_delivery - timedelta(seconds=1)
    first = list(client.replay_window("REPLAY_TWICE", start))
    second = list(client.replay_window("REPLAY_TWICE", start))
    assert [p.keys for p in first] == [p.keys for p in second]
    assert set(delivered_keys(admin, "REPLAY_TWICE")) == set(first[0].keys)


def test_replay_older_than_fourteen_days_is_refused(client, admin):
    admin.create_registration("REPLAY_OLD")
    admin.generate("REPLAY_OLD", 1)
    pulled = client.pull("REPLAY_OLD")
    admin.advance_clock(15 * 24 * 3600)
    with pytest.raises(DnbRequestError) as raised:
        client.replay("REPLAY_OLD", pulled.last_delivery - timedelta(seconds=1))
    assert raised.value.error_code == "10002"


def test_unpulled_notifications_expire_after_four_days(client, admin):
    admin.create_registration("PULL_EXPIRY")
    admin.generate("PULL_EXPIRY", 5)
    admin.advance_clock(4 * 24 * 3600 + 60)
    assert client.pull("PULL_EXPIRY") is None
    assert admin.stats()["expired_notifications"] == 5


def test_a_page_pulled_but_never_landed_comes_back_through_the_next_drain(client, admin):
    admin.create_registration("PULL_CRASH")
    admin.generate("PULL_CRASH", 250)
    drain = iter(first := client.drain("PULL_CRASH"))
    landed = next(drain)
    cursor = first.resume_from  # persisted with the landed page
    next(drain)  # pulled, then the process dies before writing it

    second = client.drain("PULL_CRASH", since=cursor)
    pages = list(second)

    assert second.recovered == 100  # the lost page, via Replay strictly after the cursor
    assert assert_exactly_once(admin, "PULL_CRASH", [landed, *pages]) == 250
