"""A sandbox scenario: the endpoints and OAuth clients a sandbox starts with, from a YAML file.

```yaml
oauth_clients:
  demo-client: {env: SANDBOX_OAUTH_CLIENT_SECRET, default: demo-oauth-secret}
endpoints:
  - {name: stripe, latency_ms: [40, 120]}
  - {name: twilio, phases: [{seconds: 45}, {seconds: 15, status: 503}]}
```
A file may also be just the list of endpoints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    model_validator,
)

from monitoring_pipeline.config_errors import ConfigFileError, closest, describe, expected, first_problem
from monitoring_pipeline.fakes.sandbox.behaviour import EndpointBehaviour, Phase, ResponseFields

DEFAULT_TOKEN_LIFETIME_SECONDS = 3600
CLIENT_ID_EXPECTED = "an OAuth client id: non-empty text without ':' or spaces"
SECRET_EXPECTED = "a client secret: text, or {env: VARIABLE, default: text} to read it from the environment"


class ScenarioError(ConfigFileError):
    """A scenario file that cannot be used: names the file, the field and what is expected."""


def _secret(value: object) -> object:
    """A secret as written, or read from the environment variable a mapping names."""
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        if not value:
            raise expected(SECRET_EXPECTED, "''")
        return value
    if not isinstance(value, Mapping):
        raise expected(SECRET_EXPECTED, describe(value))
    unknown = sorted(str(key) for key in value if key not in ("env", "default"))
    variable, default = value.get("env"), value.get("default")
    if unknown or not isinstance(variable, str) or not variable or not isinstance(default, str | None):
        got = f"unknown key {unknown[0]!r}" if unknown else "a mapping without a text 'env'"
        raise expected(SECRET_EXPECTED, got)
    secret = os.environ.get(variable) or default
    if not secret:
        raise expected(f"environment variable {variable} to be set (or a default)", "it is unset")
    return secret


def _client_id(value: object) -> str:
    if not isinstance(value, str) or not value or ":" in value or any(c.isspace() for c in value):
        raise expected(CLIENT_ID_EXPECTED, describe(value))
    return value


ClientSecret = Annotated[SecretStr, BeforeValidator(_secret)]
ClientId = Annotated[str, BeforeValidator(_client_id)]


class SandboxConfig(BaseModel):
    """What a sandbox serves from the start: endpoints, OAuth clients, token lifetime, random seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: tuple[EndpointBehaviour, ...] = ()
    oauth_clients: dict[ClientId, ClientSecret] = Field(default_factory=dict)
    token_lifetime_seconds: Annotated[StrictInt, Field(ge=1)] = DEFAULT_TOKEN_LIFETIME_SECONDS
    seed: StrictInt | None = None  # fixes error_rate draws and latencies, for reproducible runs

    @model_validator(mode="after")
    def _unique_names(self) -> SandboxConfig:
        first_index: dict[str, int] = {}
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.name in first_index:
                raise expected(
                    f"each endpoint name once (first used by endpoints[{first_index[endpoint.name]}])",
                    repr(endpoint.name),
                    f"endpoints[{index}].name",
                )
            first_index[endpoint.name] = index
        return self


CONFIG_KEYS = tuple(SandboxConfig.model_fields)
ENDPOINT_KEYS = ("name", *(key for key in EndpointBehaviour.model_fields if key != "name"))
PHASE_KEYS = tuple(Phase.model_fields)
assert set(ResponseFields.model_fields) < set(PHASE_KEYS)


def load_scenario(path: Path | str) -> SandboxConfig:
    """The ``SandboxConfig`` a YAML file declares; ``ScenarioError`` names the file, field and expected form."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(path, None, "an existing scenario file", "a path that does not exist") from None
    except (IsADirectoryError, UnicodeDecodeError) as error:
        raise ScenarioError(path, None, "a UTF-8 YAML file", type(error).__name__) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        field = f"line {mark.line + 1}" if mark is not None else None
        raise ScenarioError(path, field, "valid YAML", str(getattr(error, "problem", None) or error)) from None
    return parse_scenario(data, path)


def parse_scenario(data: Any, path: Path) -> SandboxConfig:
    """Validate already parsed scenario data; ``path`` is named in errors."""
    if isinstance(data, list):
        data = {"endpoints": data}
    if not isinstance(data, Mapping):
        form = "a mapping with 'endpoints' (and optionally 'oauth_clients'), or a list of endpoints"
        raise ScenarioError(path, None, form, describe(data))
    _refuse_unknown_keys(path, "", data, CONFIG_KEYS, "scenario")
    endpoints = data.get("endpoints")
    if isinstance(endpoints, list):
        for index, endpoint in enumerate(endpoints):
            if not isinstance(endpoint, Mapping):
                continue  # pydantic words this one
            where = f"endpoints[{index}]."
            _refuse_unknown_keys(path, where, endpoint, ENDPOINT_KEYS, "endpoint")
            phases = endpoint.get("phases")
            for number, phase in enumerate(phases if isinstance(phases, list) else []):
                if isinstance(phase, Mapping):
                    _refuse_unknown_keys(path, f"{where}phases[{number}].", phase, PHASE_KEYS, "phase")
    try:
        return SandboxConfig.model_validate(dict(data))
    except ValidationError as error:
        field, form, got = first_problem(error)
        raise ScenarioError(path, _with_endpoint_name(field, endpoints), form, got) from None


def _refuse_unknown_keys(path: Path, where: str, raw: Mapping[Any, Any], known: tuple[str, ...], what: str) -> None:
    for key in raw:
        if str(key) in known:
            continue
        guess = closest(str(key), known)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise ScenarioError(
            path, f"{where}{key}", f"only {what} keys ({', '.join(known)})", f"unknown key {str(key)!r}{hint}"
        )


def _with_endpoint_name(field: str | None, endpoints: object) -> str | None:
    """``endpoints[2].status`` → ``endpoints[2].status (endpoint 'adyen')``: easier to find in a long file."""
    if not field or not field.startswith("endpoints[") or not isinstance(endpoints, list):
        return field
    index = field[len("endpoints[") : field.index("]")]
    if not index.isdigit() or int(index) >= len(endpoints):
        return field
    entry = endpoints[int(index)]
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"{field} (endpoint {name!r})" if isinstance(name, str) else field
