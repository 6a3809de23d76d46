"""Maintenance windows: planned downtime during which an integration is MAINTENANCE, not DOWN.

A window starts either at each firing of a cron expression or on given weekdays at a wall-clock time, in its
own time zone (so "Sunday 03:00 Europe/Berlin" stays 03:00 local across daylight-saving changes), and lasts
``duration`` of elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MaintenanceWindow:
    duration: timedelta
    timezone: str = "UTC"
    cron: str | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    start: time | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.start is None):
            raise ValueError("a maintenance window has either a cron expression or weekdays and a start time")
        if self.duration <= timedelta(0):
            raise ValueError("a maintenance window lasts a positive duration")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def last_start(self, now: datetime) -> datetime | None:
        """The latest start at or before ``now`` among those that could still be running (aware UTC)."""
        local_now = now.astimezone(self.zone)
        if self.cron is not None:
            # croniter's get_prev is strictly before its base: nudge so a window starting exactly now counts.
            nudged = local_now + timedelta(microseconds=1)
            return croniter(self.cron, nudged).get_prev(datetime).astimezone(UTC)
        assert self.start is not None
        lookback_days = self.duration.days + 2
        for offset in range(lookback_days + 1):
            day = (local_now - timedelta(days=offset)).date()
            if day.weekday() not in self.weekdays:
                continue
            started = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
            if started <= now:
                return started
        return None

    def active(self, now: datetime) -> bool:
        started = self.last_start(now)
        return started is not None and started <= now < started + self.duration

    def label(self) -> str:
        if self.description:
            return self.description
        if self.cron is not None:
            return f"cron '{self.cron}' for {self.duration} ({self.timezone})"
        days = ",".join(WEEKDAYS[d] for d in self.weekdays)
        return f"{days} {self.start:%H:%M} for {self.duration} ({self.timezone})"


def active_window(windows: tuple[MaintenanceWindow, ...], now: datetime) -> MaintenanceWindow | None:
    """The first window in effect at ``now``, if any."""
    for window in windows:
        if window.active(now):
            return window
    return None


def valid_cron(expression: str) -> bool:
    return croniter.is_valid(expression)
