"""Robust anomaly scores against a series' own trailing baseline.

The score is the robust z-score ``(x - median) / (1.4826 * MAD)``: the median and the median absolute deviation are
not dragged by the outliers they are meant to find, unlike the mean and the standard deviation. When the MAD is 0
(more than half the history identical), the mean absolute deviation stands in (scaled by 1.2533 to match a
normal distribution); when that is 0 too, any different value is infinitely unusual.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal


@dataclass(frozen=True)
class Score:
    value: float
    median: float
    mad: float
    robust_z: float
    history: int  # baseline points used


def robust_score(value: float, history: Sequence[float]) -> Score | None:
    """``value`` against ``history``; None without history."""
    if not history:
        return None
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history)
    scale = 1.4826 * mad
    if scale == 0:
        scale = 1.2533 * statistics.fmean(abs(x - median) for x in history)
    if scale == 0:
        z = 0.0 if value == median else math.copysign(math.inf, value - median)
    else:
        z = (value - median) / scale
    return Score(value, median, mad, z, len(history))


def is_anomalous(score: Score, threshold: float, direction: Literal["up", "down", "both"]) -> bool:
    if direction == "up":
        return score.robust_z > threshold
    if direction == "down":
        return score.robust_z < -threshold
    return abs(score.robust_z) > threshold


def baseline(series: dict[date, float], day: date, *, history_days: int,
             by_weekday: bool) -> list[float]:
    """The values before ``day`` within ``history_days`` (only the same weekday when ``by_weekday``)."""
    values = []
    for offset in range(1, history_days + 1):
        earlier = date.fromordinal(day.toordinal() - offset)
        if by_weekday and earlier.weekday() != day.weekday():
            continue
        if earlier in series:
            values.append(series[earlier])
    return values
