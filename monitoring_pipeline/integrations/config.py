"""The integrations file (``config/integrations.yaml``): what to probe, how, and what healthy means.

Validated with pydantic; every problem is reported as ``IntegrationConfigError`` naming the file, the field
(``integrations[3] (stripe).timeout``) and the expected form, and the code location refuses to load. Strings may
use ``${VAR}`` or ``${VAR:-default}`` for non-secret values such as a base URL; secrets are never in the file,
only the names of the environment variables holding them (``token_env``, ``password_env``, ...).
"""

from __future__ import annotations

import functools
import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitoring_pipeline.circuit_breaker import BreakerPolicy
from monitoring_pipeline.config_errors import (
    ConfigFileError,
    closest,
    env_field_for,
    expected,
    first_problem,
    inline_secret,
)
from monitoring_pipeline.config_errors import describe as describe_value
from monitoring_pipeline.env_references import substitute
from monitoring_pipeline.integrations.auth import (
    AUTH_FIELDS,
    AUTH_TYPES,
    HEADER_NAME_EXPECTED,
    AuthConfig,
    is_header_name,
    is_header_value,
)
from monitoring_pipeline.integrations.conditions import (
    Condition,
    ConditionSpecError,
    compile_condition,
)
from monitoring_pipeline.integrations.durations import DURATION_EXPECTED, parse_duration
from monitoring_pipeline.integrations.maintenance import WEEKDAYS, MaintenanceWindow, valid_cron
from monitoring_pipeline.integrations.urls import HttpUrl, public_url
from monitoring_pipeline.retry import Backoff
from monitoring_pipeline.settings import ENV_INTEGRATIONS_CONFIG

NAME_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
NAME_EXPECTED = "a name of 1-64 lower-case letters, digits or '_', starting with a letter or digit (e.g. stripe)"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Headers that carry credentials: they belong in `auth`, whose secrets come from the environment.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")
# Observations are Dagster events: at most one per integration per minute keeps the event log small.
MIN_REPORT_EVERY_SECONDS = 60.0
HEADER_VALUE_EXPECTED = ("a header value of latin-1 text without line breaks, control characters or leading or "
                         "trailing spaces")


class IntegrationConfigError(ConfigFileError):
    """The integrations file cannot be used: names the file, the field and what is expected."""


def _duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise expected(DURATION_EXPECTED) from None


Duration = Annotated[float, BeforeValidator(_duration)]


def _name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise expected(NAME_EXPECTED)
    return value


Name = Annotated[StrictStr, AfterValidator(_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Retries(_Model):
    """Extra attempts within one probe before its failure counts (a blip is retried, not reported)."""

    attempts: int = Field(default=1, ge=0, le=10)
    backoff: Duration = 0.5
    max_backoff: Duration = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, capped.

        Without jitter: one integration's probes are a single client, and a fixed wait keeps the worst case
        (``worst_case_seconds``) exact. A ``backoff`` above ``max_backoff`` waits ``max_backoff``.
        """
        backoff = Backoff(initial_seconds=min(self.backoff, self.max_backoff), max_seconds=self.max_backoff,
                          jitter=False)
        return backoff.delay(attempt)


class LatencyThresholds(_Model):
    degraded: Duration | None = None  # slower than this: DEGRADED
    down: Duration | None = None  # slower than this: the probe fails

    @model_validator(mode="after")
    def _ordered(self) -> LatencyThresholds:
        if self.degraded is not None and self.down is not None and self.degraded >= self.down:
            raise expected("latency.degraded shorter than latency.down", f"{self.degraded}s >= {self.down}s")
        return self


class Thresholds(_Model):
    failure: int = Field(default=3, ge=1)  # consecutive failed probes before DOWN (PENDING until then)
    success: int = Field(default=2, ge=1)  # consecutive good probes before leaving DOWN or DEGRADED


class BreakerConfig(_Model):
    failure_threshold: int = Field(default=5, ge=1)
    open_for: Duration = 60.0
    trial_calls: int = Field(default=2, ge=1)

    def policy(self) -> BreakerPolicy:
        return BreakerPolicy(self.failure_threshold, self.open_for, self.trial_calls)


class Failover(_Model):
    group: Name
    role: Literal["primary", "secondary"] = "primary"
    weight: float = Field(default=1.0, gt=0)


def _loadable_ca_file(value: Path | None) -> Path | None:
    if value is None:
        return value
    form = "a readable PEM file of CA certificates"
    if not value.expanduser().is_file():
        raise expected(form, f"{str(value)!r}, " + ("not a file" if value.exists() else "which does not exist"))
    try:
        ssl.create_default_context(cafile=str(value.expanduser()))
    except (OSError, ssl.SSLError, ValueError) as error:
        raise expected(form, f"{str(value)!r}, which cannot be loaded ({type(error).__name__})") from None
    return value.expanduser()


TlsCaFile = Annotated[Path | None, AfterValidator(_loadable_ca_file)]


class Tls(_Model):
    verify: StrictBool = True
    ca_file: TlsCaFile = None


class MaintenanceConfig(_Model):
    cron: StrictStr | None = None
    weekdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] | None = None
    start: StrictStr | None = None  # HH:MM local time
    duration: Duration
    timezone: StrictStr = "UTC"
    description: StrictStr = ""

    @model_validator(mode="after")
    def _one_schedule(self) -> MaintenanceConfig:
        if (self.cron is None) == (self.start is None):
            raise expected("either cron, or weekdays with start", "both" if self.cron else "neither")
        if self.cron is not None and not valid_cron(self.cron):
            raise expected("a 5-field cron expression such as '0 3 * * sun'", repr(self.cron), field="cron")
        if self.start is not None:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.start):
                raise expected("a local time as HH:MM (24 h)", repr(self.start), field="start")
            if not self.weekdays:
                raise expected("a list of weekdays (mon..sun) next to start", "none", field="weekdays")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise expected("an IANA time zone such as Europe/Berlin", repr(self.timezone), field="timezone") from None
        if self.duration <= 0:
            raise expected("a positive duration", "0", field="duration")
        return self

    def window(self) -> MaintenanceWindow:
        start = time.fromisoformat(self.start) if self.start else None
        weekdays = tuple(WEEKDAYS.index(day) for day in self.weekdays or ())
        return MaintenanceWindow(timedelta(seconds=self.duration), self.timezone, self.cron, weekdays, start,
                                 self.description)


class ProbingSettings(_Model):
    """How the sensor probes (top-level ``probing:`` block)."""

    concurrency: int = Field(default=500, ge=1, le=5000)
    tick_budget: Duration = Field(default=40.0, gt=0, le=50.0)
    report_every: Duration = 300.0
    raw_retention: Duration = Field(default=14 * 86400.0, ge=3600)
    routing_file: Path | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)

    @field_validator("report_every")
    @classmethod
    def _at_most_once_a_minute(cls, value: float) -> float:
        if value < MIN_REPORT_EVERY_SECONDS:
            raise expected("a duration of at least 1m (observations go to Dagster at most once a minute per "
                           "integration, and on every state change)", f"{value:g}s")
        return value


class StatusPageLink(_Model):
    """The provider's status page as an inbound webhook source of the ops file (``webhooks.<source>``): incidents
    it declares for these components (ids or names; none: every component) are this integration's."""

    source: StrictStr
    components: tuple[StrictStr, ...] = ()


class IntegrationConfig(_Model):
    """One integration: what every probe type shares (identity, schedule, conditions, states, SLA, failover).

    Each ``type`` is a subclass with its own fields (``HttpIntegration`` below, the others in ``probes/``); the
    class variables say what its conditions may test.
    """

    name: Name
    category: Name
    group: Name | None = None  # a grouping for people (team, product area); shown in the UI
    description: StrictStr = ""
    enabled: StrictBool = True
    type: str = "http"
    timeout: Duration = Field(default=10.0, gt=0)
    interval: Duration = Field(default=60.0, ge=5)
    retries: Retries = Retries()
    conditions: tuple[Condition, ...] = ()
    latency: LatencyThresholds = LatencyThresholds()
    thresholds: Thresholds = Thresholds()
    breaker: BreakerConfig = BreakerConfig()
    sla: float = Field(default=99.9, gt=0, le=100)
    cost_per_call: float = Field(default=0.0, ge=0)
    maintenance: tuple[MaintenanceConfig, ...] = ()
    depends_on: tuple[Name, ...] = ()
    failover: Failover | None = None
    status_page: StatusPageLink | None = None  # the provider's status page, received by the ops service

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    # Condition subjects this type can test, the values it reports for `field:` conditions (None: any name,
    # e.g. Redis INFO), the conditions used when none are configured, and the Dagster kind of its asset.
    CONDITION_SUBJECTS: ClassVar[tuple[str, ...]] = ("field", "response_time")
    FIELDS: ClassVar[tuple[str, ...] | None] = ()
    DEFAULT_CONDITIONS: ClassVar[tuple[dict[str, Any], ...]] = ()
    KIND: ClassVar[str] = "service"
    # Common fields that mean nothing for this type: refused when written, not taken from `defaults`.
    NOT_APPLICABLE: ClassVar[tuple[str, ...]] = ()
    # Fields `defaults` does not set for this type: its `tls` switches TLS on, where HTTP's only tunes it.
    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = ()

    @field_validator("conditions", mode="before")
    @classmethod
    def _compile_conditions(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise expected("a list of conditions", describe_value(value))
        compiled = []
        for index, raw in enumerate(value):
            try:
                condition = compile_condition(raw)
            except ConditionSpecError as error:
                field = f"[{index}]" + (f".{error.field}" if error.field else "")
                raise expected(error.expected, error.got, field=field) from None
            if condition.subject not in cls.CONDITION_SUBJECTS:
                raise expected(f"a condition a {cls.model_fields['type'].default} probe can test: "
                               + ", ".join(cls.CONDITION_SUBJECTS), condition.subject, field=f"[{index}]")
            if condition.subject == "field" and cls.FIELDS is not None and not _known_field(condition, cls.FIELDS):
                guess = closest(condition.argument or "", cls.FIELDS)
                raise expected("one of the values a " + cls.model_fields["type"].default + " probe reports: "
                               + ", ".join(cls.FIELDS), repr(condition.argument)
                               + (f" (did you mean {guess!r}?)" if guess else ""), field=f"[{index}].field")
            compiled.append(condition)
        return tuple(compiled)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits(self) -> IntegrationConfig:
        if self.name in self.depends_on:
            raise expected("other integrations' names", repr(self.name), field="depends_on")
        return self

    @property
    def effective_conditions(self) -> tuple[Condition, ...]:
        return self.conditions or _compiled_defaults(type(self))

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        return tuple(m.window() for m in self.maintenance)

    @property
    def target(self) -> str:
        """What is probed, safe to show (no credentials, no query string)."""
        return self.type

    def worst_case_seconds(self) -> float:
        """Longest a probe can take: every attempt timing out plus the backoff between them."""
        attempts = self.retries.attempts + 1
        return attempts * self.timeout + sum(self.retries.delay(n) for n in range(1, attempts))


def _known_field(condition: Condition, fields: tuple[str, ...]) -> bool:
    name = condition.argument or ""
    return name in fields or name.split(".")[0] in fields


@functools.cache
def _compiled_defaults(model: type[IntegrationConfig]) -> tuple[Condition, ...]:
    return tuple(compile_condition(raw) for raw in model.DEFAULT_CONDITIONS)


class HttpIntegration(IntegrationConfig):
    """An HTTP(S) endpoint: a request, then conditions on status, headers, body, latency and certificate."""

    type: Literal["http"] = "http"
    url: HttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, StrictStr] = Field(default_factory=dict)
    body: StrictStr | dict[str, Any] | list[Any] | None = None
    auth: AuthConfig | None = None
    tls: Tls = Tls()
    follow_redirects: StrictBool = False

    CONDITION_SUBJECTS: ClassVar[tuple[str, ...]] = ("status", "response_time", "tls_days_left", "json", "header",
                                                     "body")
    DEFAULT_CONDITIONS: ClassVar[tuple[dict[str, Any], ...]] = ({"status": "2xx"},)
    KIND: ClassVar[str] = "api"

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _sendable_headers_without_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        for header, text in value.items():
            if not is_header_name(header):
                raise expected(HEADER_NAME_EXPECTED, repr(header), field=header)
            if header.lower() in CREDENTIAL_HEADERS:
                raise expected(f"no {header} header: credentials go in auth, read from an environment variable",
                               repr(header), field=header)
            if not is_header_value(text):
                raise expected(HEADER_VALUE_EXPECTED, describe_value(text), field=header)
        return value

    @field_validator("body")
    @classmethod
    def _json_body(cls, value: Any) -> Any:
        if isinstance(value, dict | list):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise expected("a body of JSON values (quote dates and times; no .nan or .inf)",
                               f"a value JSON cannot hold ({error})") from None
        return value

    @property
    def target(self) -> str:
        return public_url(self.url)


@dataclass(frozen=True)
class IntegrationsFile:
    path: Path
    probing: ProbingSettings
    integrations: tuple[IntegrationConfig, ...]
    call_costs: dict[str, float] = field(default_factory=dict)  # cost per call of calls counted outside probing

    def by_name(self) -> dict[str, IntegrationConfig]:
        return {integration.name: integration for integration in self.integrations}

    @property
    def enabled(self) -> tuple[IntegrationConfig, ...]:
        return tuple(i for i in self.integrations if i.enabled)

    def failover_groups(self) -> dict[str, list[IntegrationConfig]]:
        groups: dict[str, list[IntegrationConfig]] = {}
        for integration in self.enabled:
            if integration.failover is not None:
                groups.setdefault(integration.failover.group, []).append(integration)
        return groups

    def dependency_order(self) -> list[IntegrationConfig]:
        """Integrations with each one after those it depends on (validated acyclic)."""
        ordered: list[IntegrationConfig] = []
        placed: set[str] = set()
        by_name = self.by_name()

        def place(integration: IntegrationConfig) -> None:
            if integration.name in placed:
                return
            placed.add(integration.name)
            for dependency in integration.depends_on:
                place(by_name[dependency])
            ordered.append(integration)

        for integration in self.integrations:
            place(integration)
        return ordered


_TOP_LEVEL_KEYS = ("probing", "defaults", "integrations", "call_costs")


def load_integrations(path: Path, environ: Mapping[str, str] | None = None) -> IntegrationsFile:
    """Read and validate the integrations file; ``IntegrationConfigError`` for the first problem found."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    if not path.is_file():
        got = "a directory" if path.exists() else "a path that does not exist"
        raise IntegrationConfigError(path, None, f"an integrations YAML file (set {ENV_INTEGRATIONS_CONFIG})", got)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise IntegrationConfigError(
            path, f"line {mark.line + 1}" if mark is not None else None, "valid YAML",
            str(getattr(error, "problem", None) or error),
        ) from None
    except UnicodeDecodeError:
        raise IntegrationConfigError(path, None, "UTF-8 text", "undecodable bytes") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        expected = "a mapping with probing, defaults and integrations"
        raise IntegrationConfigError(path, None, expected, describe_value(data))
    unknown = [str(key) for key in data if key not in _TOP_LEVEL_KEYS]
    if unknown:
        raise IntegrationConfigError(path, unknown[0], "only the keys " + ", ".join(_TOP_LEVEL_KEYS), "unknown key")
    data = _substitute(path, data, environ, "")
    probing = _validated(path, "probing", ProbingSettings, data.get("probing") or {})
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise IntegrationConfigError(path, "defaults", "a mapping of integration fields", describe_value(defaults))
    types = integration_types()
    _refuse_unknown(path, "defaults", defaults, _keys_of(*types.values()))
    raw_integrations = data.get("integrations") or []
    if not isinstance(raw_integrations, list):
        raise IntegrationConfigError(path, "integrations", "a list of integrations", describe_value(raw_integrations))
    integrations: list[IntegrationConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_integrations):
        label = f"integrations[{index}]"
        if not isinstance(raw, Mapping):
            raise IntegrationConfigError(path, label, "a mapping of integration fields (name, url, ...)",
                                         describe_value(raw))
        if isinstance(raw.get("name"), str):
            label += f" ({raw['name']})"
        model = _integration_type(path, label, types, raw.get("type", defaults.get("type", "http")))
        _refuse_unknown(path, label, raw, _keys_of(model))
        integration = _validated(path, label, model, _merge(_applicable(defaults, model), raw))
        if integration.name in seen:
            expected = f"a name used once (also integrations[{seen[integration.name]}])"
            raise IntegrationConfigError(path, f"{label}.name", expected, repr(integration.name))
        seen[integration.name] = index
        if integration.worst_case_seconds() > probing.tick_budget:
            raise IntegrationConfigError(
                path, f"{label}.timeout",
                f"(retries.attempts + 1) x timeout plus backoff within probing.tick_budget ({probing.tick_budget:g}s)",
                f"{integration.worst_case_seconds():g}s",
            )
        integrations.append(integration)
    config = IntegrationsFile(path, probing, tuple(integrations), _call_costs(path, data.get("call_costs") or {}))
    _check_references(config)
    return config


def _call_costs(path: Path, raw: Any) -> dict[str, float]:
    expected = "a mapping of name to cost per call, e.g. {dnb: 0.02}"
    if not isinstance(raw, Mapping):
        raise IntegrationConfigError(path, "call_costs", expected, describe_value(raw))
    costs = {}
    for name, cost in raw.items():
        if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
            raise IntegrationConfigError(path, f"call_costs.{name}", "a cost per call >= 0", describe_value(cost))
        costs[str(name)] = float(cost)
    return costs


def _check_references(config: IntegrationsFile) -> None:
    names = config.by_name()
    for index, integration in enumerate(config.integrations):
        for dependency in integration.depends_on:
            if dependency not in names:
                raise IntegrationConfigError(config.path, f"integrations[{index}] ({integration.name}).depends_on",
                                             "names of integrations in this file", repr(dependency))
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join([*trail[trail.index(name):], name])
            index = next(i for i, item in enumerate(config.integrations) if item.name == name)
            raise IntegrationConfigError(config.path, f"integrations[{index}] ({name}).depends_on",
                                         "dependencies without a cycle", cycle)
        state[name] = "visiting"
        for dependency in names[name].depends_on:
            visit(dependency, [*trail, name])
        state[name] = "done"

    for integration in config.integrations:
        visit(integration.name, [])


def _validated(path: Path, label: str, model: type[BaseModel], raw: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        field, form, got = first_problem(error, f"{label}.")
        # pydantic puts the auth type in the location (auth.bearer.token_env), and a validator of a list names
        # its item as "[2].json": write the path as the YAML has it.
        field = _UNION_TAG.sub("", field or label).replace(".[", "[")
        first = error.errors(include_url=False)[0]
        context = first.get("ctx") or {}
        if first["type"] == "union_tag_invalid":
            form, got = "type one of " + str(context.get("expected_tags", "")), repr(context.get("tag"))
        elif first["type"] == "union_tag_not_found":
            form, got = "a 'type' key (" + ", ".join(AUTH_TYPES) + ")", "none"
        raise IntegrationConfigError(path, field, form, got) from None


_UNION_TAG = re.compile(r"(?<=\.auth)\.(?:" + "|".join(AUTH_TYPES) + r")(?=\.|$)")


def integration_types() -> dict[str, type[IntegrationConfig]]:
    """Every probe type by its ``type:`` name."""
    # Imported here: the probe types' models build on this module.
    from monitoring_pipeline.integrations.probes import INTEGRATION_TYPES

    return INTEGRATION_TYPES


def _integration_type(path: Path, label: str, types: Mapping[str, type[IntegrationConfig]],
                      name: Any) -> type[IntegrationConfig]:
    if name not in types:
        raise IntegrationConfigError(path, f"{label}.type", "one of " + ", ".join(types), describe_value(name))
    return types[name]


def _keys_of(*models: type[IntegrationConfig]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for model in models for key in model.model_fields
                               if key not in model.NOT_APPLICABLE))


def _applicable(defaults: Mapping[str, Any], model: type[IntegrationConfig]) -> dict[str, Any]:
    """The defaults a type has fields for: a ``timeout`` default leaves a push integration alone, a ``tls`` default
    (HTTP's settings) leaves a database's plain-text connection alone."""
    keys = [key for key in _keys_of(model) if key not in model.NOT_FROM_DEFAULTS]
    return {str(key): value for key, value in defaults.items() if str(key) in keys}


def _refuse_unknown(path: Path, label: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in raw:
        key = str(key)
        env_field = env_field_for(key, known)
        if env_field is not None:
            raise IntegrationConfigError(path, f"{label}.{key}", *inline_secret(env_field))
        if key not in known:
            guess = closest(key, known)
            raise IntegrationConfigError(path, f"{label}.{key}", "a known integration key (" + ", ".join(
                known) + ")", "unknown key" + (f" (did you mean {guess!r}?)" if guess else ""))
    auth = raw.get("auth")
    if isinstance(auth, Mapping):
        fields = AUTH_FIELDS.get(auth.get("type"), [field for fields in AUTH_FIELDS.values() for field in fields])
        for key in auth:
            env_field = env_field_for(str(key), fields)
            if env_field is not None:
                raise IntegrationConfigError(path, f"{label}.auth.{key}", *inline_secret(env_field))


def _merge(defaults: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` under ``raw``; nested mappings (retries, latency, ...) merge one level deep."""
    merged: dict[str, Any] = {str(k): v for k, v in defaults.items()}
    for key, value in raw.items():
        key = str(key)
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key not in ("auth", "failover"):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _substitute(path: Path, value: Any, environ: Mapping[str, str], where: str) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string, from the environment."""
    def missing(at: str, name: str) -> IntegrationConfigError:
        return IntegrationConfigError(path, at or None, f"environment variable {name} to be set (or write "
                                      f"${{{name}:-default}})", "unset")
    return substitute(value, environ, missing, where)

