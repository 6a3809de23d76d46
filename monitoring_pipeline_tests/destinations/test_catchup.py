"""Which past days a remote destination is asked to copy again, and how often, from the manifests alone."""

from __future__ import annotations

import json
from datetime import date, timedelta

from monitoring_pipeline.destinations.catchup import CatchUpTarget, plan_catch_ups
from monitoring_pipeline.destinations.sync import DestinationFormat
from monitoring_pipeline.notifications.files import ManifestWriter, day_prefix

TODAY = date(2026, 3, 20)
JSON_ONLY = DestinationFormat(formats=("json",))
NOW = 1_800_000_000.0


def local_file(engine, day: date, name: str, digest: str) -> str:
    path = f"{day_prefix(day)}/REF/{name}"
    writer = ManifestWriter(engine, "local", day)
    writer.add(path, "REF", 3, 100, digest)
    writer.flush()
    return path


def copied(engine, day: date, path: str, source_digest: str, destination: str = "sftp") -> None:
    writer = ManifestWriter(engine, destination, day)
    writer.add(path, "REF", 3, 100, "remote-" + source_digest, source_digest)
    writer.flush()


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def seed(engine) -> None:
    """Day -1: an old copy of a changed file; -2: one file never copied; -3: in step; today: nothing copied."""
    copied(engine, days_ago(1), local_file(engine, days_ago(1), "notifications_a.json", "v2"), "v1")
    copied(engine, days_ago(2), local_file(engine, days_ago(2), "notifications_b.json", "b"), "b")
    local_file(engine, days_ago(2), "notifications_c.json", "c")
    copied(engine, days_ago(3), local_file(engine, days_ago(3), "notifications_d.json", "d"), "d")
    local_file(engine, days_ago(3), "notifications_d.csv", "csv")  # csv is not a format this destination takes
    local_file(engine, TODAY, "notifications_e.json", "e")


def plan(engine, cursor, now, lookback=14):
    return plan_catch_ups(engine, {"sftp": CatchUpTarget("sftp", JSON_ONLY, lookback)}, TODAY, cursor, now)


def test_lagging_past_days_are_requested_newest_first_and_today_is_left_to_the_landing_sensor(engine):
    seed(engine)
    due, cursor = plan(engine, None, NOW)
    assert [(c.destination, c.day, c.attempt) for c in due] == [("sftp", days_ago(1), 1), ("sftp", days_ago(2), 1)]
    assert set(json.loads(cursor)) == {f"sftp/{days_ago(1)}", f"sftp/{days_ago(2)}"}


def test_a_destination_that_stays_behind_is_asked_again_with_growing_pauses(engine):
    seed(engine)
    _, cursor = plan(engine, None, NOW)
    assert plan(engine, cursor, NOW + 299)[0] == []
    due, cursor = plan(engine, cursor, NOW + 300)
    assert [c.attempt for c in due] == [2, 2]
    assert plan(engine, cursor, NOW + 300 + 599)[0] == []
    due, cursor = plan(engine, cursor, NOW + 300 + 600)
    assert [c.attempt for c in due] == [3, 3]
    later = NOW + 900
    for _ in range(6):  # the pause stops growing at an hour
        due, cursor = plan(engine, cursor, later + 3600)
        later += 3600
        assert len(due) == 2


def test_a_day_in_step_again_is_forgotten_and_a_new_lag_starts_over(engine):
    seed(engine)
    _, cursor = plan(engine, None, NOW)
    copied(engine, days_ago(2), f"{day_prefix(days_ago(2))}/REF/notifications_c.json", "c")
    due, cursor = plan(engine, cursor, NOW + 300)
    assert [(c.day, c.attempt) for c in due] == [(days_ago(1), 2)]
    assert set(json.loads(cursor)) == {f"sftp/{days_ago(1)}"}

    local_file(engine, days_ago(2), "notifications_c.json", "c-changed")
    due, _ = plan(engine, cursor, NOW + 301)
    assert [(c.day, c.attempt) for c in due] == [(days_ago(2), 1)]


def test_days_beyond_the_lookback_and_destinations_with_catch_up_off_are_left_alone(engine):
    seed(engine)
    assert [c.day for c in plan(engine, None, NOW, lookback=1)[0]] == [days_ago(1)]
    assert plan(engine, None, NOW, lookback=0)[0] == []


def test_gzipped_copies_are_matched_to_their_local_file(engine):
    path = local_file(engine, days_ago(1), "notifications_f.json", "f")
    gzipped = DestinationFormat(formats=("json",), gzip=True)
    targets = {"archive": CatchUpTarget("archive", gzipped, 14)}
    assert [c.day for c in plan_catch_ups(engine, targets, TODAY, None, NOW)[0]] == [days_ago(1)]
    copied(engine, days_ago(1), path + ".gz", "f", destination="archive")
    assert plan_catch_ups(engine, targets, TODAY, None, NOW)[0] == []
