"""Receivers: named lists of channel instances that routes send to.

Contract stub: the delivery work (alerting/channels/) replaces ``ReceiverConfig.channels`` with validated channel
models (one per channel type, secrets named by environment variable). The engine only needs the names.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    channels: list[dict[str, Any]] = Field(default_factory=list)
