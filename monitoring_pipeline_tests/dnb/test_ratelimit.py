"""The shared call budget: slots are handed out evenly across threads, processes and machines."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from monitoring_pipeline.dnb.ratelimit import (
    FileRateLimiter,
    LocalRateLimiter,
    PostgresRateLimiter,
    limiter_key,
    slot_interval,
)
from monitoring_pipeline.storage.database import migrate


def _reservations(limiters, count):
    """Seconds-until-slot for ``count`` back-to-back reservations, alternating between limiters."""
    return [limiters[i % len(limiters)]._reserve() for i in range(count)]


def _assert_evenly_spaced(waits, interval):
    # Reservations made back to back must each land one interval after the previous one.
    for earlier, later in zip(waits, waits[1:], strict=False):
        assert later - earlier == pytest.approx(interval, abs=0.05)


def test_interval_includes_the_safety_margin():
    assert slot_interval(5, 0.06) == pytest.approx(0.212)
    with pytest.raises(ValueError, match="rate_per_second"):
        slot_interval(0)


def test_local_limiter_spaces_calls():
    limiter = LocalRateLimiter(5)
    _assert_evenly_spaced(_reservations([limiter], 6), limiter.interval)


def test_file_limiters_on_one_directory_share_one_budget(tmp_path):
    key = limiter_key("http://dnb", "key-1")
    one, two = FileRateLimiter(tmp_path, key, 5), FileRateLimiter(tmp_path, key, 5)
    _assert_evenly_spaced(_reservations([one, two], 8), one.interval)


def test_file_limiters_of_different_keys_are_independent(tmp_path):
    one = FileRateLimiter(tmp_path, limiter_key("http://dnb", "key-1"), 5)
    other = FileRateLimiter(tmp_path, limiter_key("http://dnb", "key-2"), 5)
    one._reserve()
    one._reserve()
    assert other._reserve() <= 0.01


def test_key_does_not_reveal_the_client_id():
    assert "key-1" not in limiter_key("http://dnb", "key-1")


@pytest.mark.postgres
def test_postgres_limiters_share_one_budget_across_engines(postgres_url):
    engines = [create_engine(postgres_url) for _ in range(2)]
    migrate(engines[0])
    key = limiter_key("http://dnb", "pg-key")
    limiters = [PostgresRateLimiter(engine, key, 5) for engine in engines]
    _assert_evenly_spaced(_reservations(limiters, 8), limiters[0].interval)
    for engine in engines:
        engine.dispose()


def test_acquire_sleeps_until_the_reserved_slot(tmp_path):
    slept: list[float] = []
    limiter = FileRateLimiter(tmp_path, "k", 5)
    limiter._sleep = slept.append
    limiter.acquire()
    limiter.acquire()
    assert slept and slept[-1] == pytest.approx(limiter.interval, abs=0.05)
