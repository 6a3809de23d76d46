"""Settings of the D&B Direct+ emulator; every undocumented ([E]) behaviour is a knob here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

FOUR_DAYS_SECONDS = 4 * 24 * 3600
FOURTEEN_DAYS_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class EmulatorConfig:
    """Credentials and behaviour of one emulator instance."""

    client_id: str
    client_secret: str
    token_lifetime_seconds: int = 86400
    rate_limit_per_second: float | None = 5.0
    retry_after_seconds: float | None = None
    max_notifications_cap: int = 100
    pull_expiry_seconds: float = FOUR_DAYS_SECONDS
    replay_window_seconds: float = FOURTEEN_DAYS_SECONDS
    batch_apply_delay_seconds: float = 0.5
    extra_credentials: dict[str, str] = field(default_factory=dict)
    start_offset_seconds: float = 0.0  # negative: the clock starts in the past (deliveries on earlier days)

    def __post_init__(self) -> None:
        _require_text("client_id", self.client_id)
        _require_text("client_secret", self.client_secret)
        if isinstance(self.token_lifetime_seconds, bool) or not isinstance(self.token_lifetime_seconds, int):
            raise ValueError("token_lifetime_seconds must be an integer number of seconds")
        if self.token_lifetime_seconds < 1:
            raise ValueError("token_lifetime_seconds must be at least 1")
        if self.rate_limit_per_second is not None:
            _require_positive("rate_limit_per_second", self.rate_limit_per_second)
        if self.retry_after_seconds is not None:
            _require_non_negative("retry_after_seconds", self.retry_after_seconds)
        if isinstance(self.max_notifications_cap, bool) or not isinstance(self.max_notifications_cap, int):
            raise ValueError("max_notifications_cap must be an integer")
        if self.max_notifications_cap < 1:
            raise ValueError("max_notifications_cap must be at least 1")
        _require_positive("pull_expiry_seconds", self.pull_expiry_seconds)
        _require_positive("replay_window_seconds", self.replay_window_seconds)
        _require_non_negative("batch_apply_delay_seconds", self.batch_apply_delay_seconds)
        if not isinstance(self.extra_credentials, dict):
            raise ValueError("extra_credentials must be a dict of consumer key -> secret")
        for key, secret in self.extra_credentials.items():
            _require_text("extra_credentials key", key)
            # Never echo the secret, only the key it belongs to.
            if not isinstance(secret, str) or not secret:
                raise ValueError(f"extra_credentials[{key!r}] must be a non-empty string")

    def credentials(self) -> dict[str, str]:
        """Every accepted consumer key mapped to its secret."""
        return {**self.extra_credentials, self.client_id: self.client_secret}

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks that print the config.
        return (
            f"EmulatorConfig(client_id={self.client_id!r}, client_secret='***', "
            f"token_lifetime_seconds={self.token_lifetime_seconds}, "
            f"rate_limit_per_second={self.rate_limit_per_second}, "
            f"retry_after_seconds={self.retry_after_seconds}, "
            f"max_notifications_cap={self.max_notifications_cap}, "
            f"pull_expiry_seconds={self.pull_expiry_seconds}, "
            f"replay_window_seconds={self.replay_window_seconds}, "
            f"batch_apply_delay_seconds={self.batch_apply_delay_seconds}, "
            f"extra_credentials=<{len(self.extra_credentials)} keys>)"
        )


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if ":" in value and name.startswith(("client_id", "extra_credentials")):
        raise ValueError(f"{name} must not contain ':' (it is sent in HTTP Basic auth)")


def _require_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _require_positive(name: str, value: object) -> None:
    if _require_number(name, value) <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value!r}")


def _require_non_negative(name: str, value: object) -> None:
    if _require_number(name, value) < 0:
        raise ValueError(f"{name} must be 0 or more, got {value!r}")
