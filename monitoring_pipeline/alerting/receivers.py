"""Receivers: named lists of channel instances that routes send to (the ``receivers:`` section of
config/alerting.yaml). Each channel is validated by its own model (``type`` picks it); secrets are only ever named
by environment variable (``*_env``)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring_pipeline.alerting.channels import AnyChannelConfig
from monitoring_pipeline.alerting.channels.base import Channel
from monitoring_pipeline.config_errors import ConfigFileError, describe, expected, first_problem


class ReceiverConfig(BaseModel):
    """A receiver: where a route's notifications go, through each of its channels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    channels: list[AnyChannelConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _channel_names_unique(self) -> ReceiverConfig:
        seen: set[str] = set()
        for index, channel in enumerate(self.channels):
            if channel.label in seen:
                raise expected(f"a name for each {channel.type} channel of this receiver (two are called "
                               f"{channel.label!r})", field=f"channels[{index}].name")
            seen.add(channel.label)
        return self

    def build_channels(self) -> list[Channel]:
        return [channel.build() for channel in self.channels]

    def config_hash(self, environ: Mapping[str, str] | None = None) -> str:
        """A hash of the configuration and of the secrets' current values: when it changes (a fixed webhook URL in
        the environment, too), a broken receiver is tried again. Only the hash is stored."""
        env = os.environ if environ is None else environ
        digest = hashlib.sha256(json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True).encode())
        for channel in self.channels:
            for variable in channel.secret_variables():
                digest.update(b"\x00" + variable.encode() + b"=" + hashlib.sha256(
                    env.get(variable, "").encode()).digest())
        return digest.hexdigest()


class ReceiversFileError(ConfigFileError):
    """The receivers section of the alerting file cannot be used."""


def parse_receivers(path: Path, raw: Any) -> dict[str, ReceiverConfig]:
    """Validate the ``receivers:`` list of ``path``; the error names the file, the field and the expected form."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ReceiversFileError(path, "receivers", "a list of receivers (each with a name and channels)",
                                 describe(raw))
    receivers: dict[str, ReceiverConfig] = {}
    for index, item in enumerate(raw):
        label = f"receivers[{index}]"
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            label += f" ({item['name']})"
        try:
            receiver = ReceiverConfig.model_validate(item)
        except ValidationError as error:
            field, form, got = first_problem(error, f"{label}.", model=ReceiverConfig)
            raise ReceiversFileError(path, field, form, got) from None
        if receiver.name in receivers:
            raise ReceiversFileError(path, f"{label}.name", "a receiver name used once", repr(receiver.name))
        receivers[receiver.name] = receiver
    return receivers


def load_receivers(path: Path) -> dict[str, ReceiverConfig]:
    """The receivers of the alerting file at ``path`` (none when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ReceiversFileError(path, f"line {mark.line + 1}" if mark is not None else None, "valid YAML",
                                 str(getattr(error, "problem", None) or error)) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ReceiversFileError(path, None, "a mapping with a receivers list", describe(data))
    return parse_receivers(path, data.get("receivers"))
