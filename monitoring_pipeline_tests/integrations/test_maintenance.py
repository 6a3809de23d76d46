"""Maintenance windows by cron or weekday and time, in their own time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from monitoring_pipeline.integrations.maintenance import MaintenanceWindow

BERLIN_SUNDAY_3AM = MaintenanceWindow(timedelta(hours=1), "Europe/Berlin", weekdays=(6,), start=time(3, 0))


@pytest.mark.parametrize(
    ("utc", "active"),
    [
        # Winter (CET, UTC+1): 03:00 Berlin is 02:00 UTC.
        (datetime(2026, 1, 11, 1, 59, tzinfo=UTC), False),
        (datetime(2026, 1, 11, 2, 0, tzinfo=UTC), True),
        (datetime(2026, 1, 11, 2, 59, tzinfo=UTC), True),
        (datetime(2026, 1, 11, 3, 0, tzinfo=UTC), False),
        # Summer (CEST, UTC+2): 03:00 Berlin is 01:00 UTC.
        (datetime(2026, 7, 12, 1, 0, tzinfo=UTC), True),
        (datetime(2026, 7, 12, 2, 0, tzinfo=UTC), False),
        # A Monday at the same hour: not a maintenance day.
        (datetime(2026, 7, 13, 1, 30, tzinfo=UTC), False),
    ],
)
def test_weekday_window_keeps_local_wall_time_across_dst(utc, active):
    assert BERLIN_SUNDAY_3AM.active(utc) is active


def test_window_on_the_night_clocks_go_forward():
    # 2026-03-29: Berlin skips 02:00-03:00; a 02:30 window starts at 03:30 CEST (01:30 UTC) ... for 30 minutes.
    window = MaintenanceWindow(timedelta(minutes=30), "Europe/Berlin", weekdays=(6,), start=time(2, 30))
    assert window.active(datetime(2026, 3, 29, 1, 15, tzinfo=UTC)) is False
    started = window.last_start(datetime(2026, 3, 29, 1, 45, tzinfo=UTC))
    assert started is not None and window.active(started) and not window.active(started + timedelta(minutes=30))


def test_weekday_window_spanning_midnight():
    window = MaintenanceWindow(timedelta(hours=3), "America/New_York", weekdays=(5,), start=time(23, 0))  # Sat 23:00
    assert window.active(datetime(2026, 1, 18, 5, 30, tzinfo=UTC))  # Sun 00:30 New York
    assert not window.active(datetime(2026, 1, 18, 7, 0, tzinfo=UTC))  # Sun 02:00 New York


def test_cron_window_in_a_time_zone_and_exact_start():
    window = MaintenanceWindow(timedelta(minutes=20), "Asia/Tokyo", cron="0 4 * * *")  # 04:00 JST = 19:00 UTC
    assert window.active(datetime(2026, 5, 1, 19, 0, tzinfo=UTC))
    assert window.active(datetime(2026, 5, 1, 19, 19, 59, tzinfo=UTC))
    assert not window.active(datetime(2026, 5, 1, 19, 20, tzinfo=UTC))
    assert not window.active(datetime(2026, 5, 1, 18, 59, tzinfo=UTC))


def test_cron_window_in_summer_and_winter_time():
    window = MaintenanceWindow(timedelta(minutes=10), "Europe/London", cron="30 1 * * *")
    assert window.active(datetime(2026, 1, 5, 1, 35, tzinfo=UTC))  # GMT
    assert window.active(datetime(2026, 7, 5, 0, 35, tzinfo=UTC))  # BST
    assert not window.active(datetime(2026, 7, 5, 1, 35, tzinfo=UTC))


def test_a_window_needs_exactly_one_schedule_and_a_duration():
    with pytest.raises(ValueError):
        MaintenanceWindow(timedelta(hours=1))
    with pytest.raises(ValueError):
        MaintenanceWindow(timedelta(0), cron="0 3 * * *")
