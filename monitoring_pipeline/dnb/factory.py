"""Builds a ``DnbClient`` whose token and rate limit are shared with every other process of the deployment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from monitoring_pipeline.dnb.auth import ApiVersion
from monitoring_pipeline.dnb.client import PRODUCTION_BASE_URL, DnbClient
from monitoring_pipeline.dnb.ratelimit import (
    DEFAULT_RATE_PER_SECOND,
    FileRateLimiter,
    PostgresRateLimiter,
    RateLimiter,
    UnlimitedRateLimiter,
    limiter_key,
)
from monitoring_pipeline.dnb.resilience import CircuitBreaker
from monitoring_pipeline.dnb.token_cache import FileTokenCache, SqlTokenCache, TokenCache
from monitoring_pipeline.retry import Backoff, RetryPolicy


@dataclass(frozen=True)
class DnbConnectionSettings:
    """Everything needed to talk to one D&B environment with one consumer key."""

    client_id: str
    client_secret: str = field(repr=False)
    base_url: str = PRODUCTION_BASE_URL
    api_version: ApiVersion = "v3"
    rate_limit_per_second: float | None = DEFAULT_RATE_PER_SECOND
    timeout_seconds: float = 30.0
    max_attempts: int = 10
    max_elapsed_seconds: float = 120.0
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 30.0
    state_dir: Path = Path.home() / ".monitoring_pipeline"
    database_url: str | None = None  # PostgreSQL: token and rate limit shared across machines


def shared_backends(settings: DnbConnectionSettings) -> tuple[RateLimiter, TokenCache]:
    """PostgreSQL when configured (holds across machines), else files under ``state_dir`` (this machine)."""
    key = limiter_key(settings.base_url, settings.client_id)
    if settings.database_url and settings.database_url.startswith("postgresql"):
        from monitoring_pipeline.storage.database import shared_engine

        engine = shared_engine(settings.database_url)
        limiter: RateLimiter = (
            PostgresRateLimiter(engine, key, settings.rate_limit_per_second)
            if settings.rate_limit_per_second
            else UnlimitedRateLimiter()
        )
        return limiter, SqlTokenCache(engine, key)
    limiter = (
        FileRateLimiter(settings.state_dir, key, settings.rate_limit_per_second)
        if settings.rate_limit_per_second
        else UnlimitedRateLimiter()
    )
    return limiter, FileTokenCache(settings.state_dir, key)


def build_client(settings: DnbConnectionSettings) -> DnbClient:
    limiter, cache = shared_backends(settings)
    return DnbClient(
        settings.base_url,
        settings.client_id,
        settings.client_secret,
        api_version=settings.api_version,
        timeout_seconds=settings.timeout_seconds,
        rate_limiter=limiter,
        token_cache=cache,
        retry_policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            max_elapsed_seconds=settings.max_elapsed_seconds,
            backoff=Backoff(initial_seconds=settings.initial_backoff_seconds, max_seconds=settings.max_backoff_seconds),
        ),
        breaker=CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_reset_seconds),
    )
