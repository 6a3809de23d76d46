"""SLA maths: time in each state, time-based availability, latency percentiles, the 30-day error budget.

Rules (docs/integrations.md repeats them):

- **Time in state.** Each probe result holds the integration's state from its timestamp until the next result,
  but for at most ``max_gap`` (three probe intervals); time not covered that way is UNKNOWN (no data).
- **Availability** = (UP + DEGRADED + PENDING time) / (that + DOWN time). MAINTENANCE and UNKNOWN time are left
  out of both sides: planned downtime and time without data neither help nor hurt. PENDING counts as available:
  the integration has failed fewer than ``thresholds.failure`` probes in a row and has not been declared DOWN.
- **Error budget** over the 30 days ending with the day: allowed downtime = (1 - SLA) x observed time (the
  availability denominator); ``budget_remaining`` = 1 - DOWN time / allowed (negative once breached).
- **Burn rate** of a day = its DOWN time / (1 - SLA) x its observed time: above 1 the day used more than its share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitoring_pipeline.integrations.state import (
    STATE_DEGRADED,
    STATE_DOWN,
    STATE_MAINTENANCE,
    STATE_PENDING,
    STATE_UNKNOWN,
    STATE_UP,
)

TIMED_STATES = (STATE_UP, STATE_DEGRADED, STATE_PENDING, STATE_DOWN, STATE_MAINTENANCE, STATE_UNKNOWN)
AVAILABLE_STATES = (STATE_UP, STATE_DEGRADED, STATE_PENDING)
BUDGET_DAYS = 30
# Upper bounds (ms) of the latency histogram kept per hour: percentiles of any span can be estimated from them.
LATENCY_BUCKETS_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000,
                      7500, 10000, 20000, 30000, 60000, math.inf)


def empty_seconds() -> dict[str, float]:
    return {state: 0.0 for state in TIMED_STATES}


def state_seconds(
    samples: Sequence[tuple[datetime, str]],
    start: datetime,
    end: datetime,
    max_gap: float,
    before: tuple[datetime, str] | None = None,
) -> dict[str, float]:
    """Seconds spent in each state within [start, end) from time-ordered ``(timestamp, state)`` samples.

    ``before`` is the last sample ahead of ``start``, whose state may still hold at the window's start.
    """
    window_start, window_end = start.timestamp(), end.timestamp()
    chosen = ([before] if before is not None else []) + [s for s in samples if start <= s[0] < end]
    points = [(at.timestamp(), state) for at, state in chosen]
    seconds = empty_seconds()
    cursor = window_start
    for index, (at, state) in enumerate(points):
        following = points[index + 1][0] if index + 1 < len(points) else window_end
        low, high = max(at, window_start), min(following, at + max_gap, window_end)
        if low > cursor:
            seconds[STATE_UNKNOWN] += low - cursor
            cursor = low
        if high > low:
            seconds[state if state in seconds else STATE_UNKNOWN] += high - low
            cursor = high
    if window_end > cursor:
        seconds[STATE_UNKNOWN] += window_end - cursor
    return seconds


def add_seconds(total: dict[str, float], more: Mapping[str, float]) -> dict[str, float]:
    for state in TIMED_STATES:
        total[state] = total.get(state, 0.0) + float(more.get(state, 0.0))
    return total


def observed_seconds(seconds: Mapping[str, float]) -> float:
    return sum(seconds.get(state, 0.0) for state in (*AVAILABLE_STATES, STATE_DOWN))


def availability(seconds: Mapping[str, float]) -> float | None:
    """Share of observed time not DOWN; None when nothing was observed outside maintenance."""
    observed = observed_seconds(seconds)
    if observed <= 0:
        return None
    return 1.0 - seconds.get(STATE_DOWN, 0.0) / observed


@dataclass(frozen=True)
class ErrorBudget:
    availability: float | None
    budget_remaining: float | None  # share left; negative when breached
    breached: bool


def error_budget(sla_percent: float, seconds: Mapping[str, float]) -> ErrorBudget:
    observed = observed_seconds(seconds)
    if observed <= 0:
        return ErrorBudget(None, None, False)
    down = seconds.get(STATE_DOWN, 0.0)
    allowed = (1.0 - sla_percent / 100.0) * observed
    available = 1.0 - down / observed
    if allowed <= 0:  # a 100 % SLA has no budget: any downtime breaches it
        return ErrorBudget(available, 1.0 if down == 0 else -math.inf, down > 0)
    remaining = 1.0 - down / allowed
    return ErrorBudget(available, remaining, available < sla_percent / 100.0)


def burn_rate(sla_percent: float, seconds: Mapping[str, float]) -> float | None:
    observed = observed_seconds(seconds)
    allowed = (1.0 - sla_percent / 100.0) * observed
    if observed <= 0:
        return None
    down = seconds.get(STATE_DOWN, 0.0)
    if allowed <= 0:
        return 0.0 if down == 0 else math.inf
    return down / allowed


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (q / 100.0) * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def histogram(values: Iterable[float]) -> dict[str, int]:
    """Counts per latency bucket, keyed by the bucket's upper bound ("inf" for the last)."""
    counts: dict[str, int] = {}
    for value in values:
        bound = next(b for b in LATENCY_BUCKETS_MS if value <= b)
        key = _bucket_key(bound)
        counts[key] = counts.get(key, 0) + 1
    return counts


def merge_histograms(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counts in histograms:
        for key, count in counts.items():
            merged[key] = merged.get(key, 0) + int(count)
    return merged


def histogram_percentile(counts: Mapping[str, int], q: float) -> float | None:
    """Estimate a percentile from bucket counts, interpolating linearly inside the bucket that holds it."""
    total = sum(counts.values())
    if total == 0:
        return None
    target = (q / 100.0) * total
    seen = 0
    lower = 0.0
    for bound in LATENCY_BUCKETS_MS:
        count = counts.get(_bucket_key(bound), 0)
        if count and seen + count >= target:
            upper = bound if math.isfinite(bound) else lower * 2
            return lower + (upper - lower) * max(0.0, target - seen) / count
        seen += count
        lower = float(bound) if math.isfinite(bound) else lower
    return lower


def _bucket_key(bound: float) -> str:
    return "inf" if math.isinf(bound) else str(int(bound))
