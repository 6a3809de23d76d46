"""The alerting file (``config/alerting.yaml``, or ``$ALERTING_CONFIG``): rules, the route tree, inhibition rules,
time intervals, escalation policies and receivers.

Validated with pydantic; every problem is an ``AlertingConfigError`` naming the file, the field
(``rules[3] (stripe_slow).window``) and the expected form. Cross-references are checked too: a route or an
escalation level naming an unknown receiver, a matcher whose regular expression does not compile, a route that
contains itself (a YAML alias pointing back up the tree), and an annotation template that uses a label the rule's
alerts do not have. Every field is documented in ``config/alerting.example.yaml``.

Default rules (``default_rules.py``) apply unless ``default_rules: false``; a rule of the file with a default's name
is merged over it, so ``{name: integration_degraded, enabled: false}`` turns one off.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
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
from pydantic_core import PydanticCustomError

from monitoring_pipeline.alerting.default_rules import DEFAULT_RULES
from monitoring_pipeline.alerting.matchers import LABEL_NAME, Matcher, MatcherError, parse_matcher
from monitoring_pipeline.alerting.model import SEVERITIES
from monitoring_pipeline.alerting.receivers import ReceiverConfig, parse_receivers
from monitoring_pipeline.alerting.templates import TemplateProblem, compile_template, render, template_context
from monitoring_pipeline.alerting.timeintervals import TimeInterval, TimeIntervalError, parse_ranges, parse_time_range
from monitoring_pipeline.config_errors import ConfigFileError, closest, describe, expected, first_problem, matching
from monitoring_pipeline.integrations.config import Duration
from monitoring_pipeline.settings import ENV_ALERTING_CONFIG

RULE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
RULE_NAME_EXPECTED = "a rule name of 1-64 lower-case letters, digits or '_', starting with a letter"
LABEL_EXPECTED = "a label name (letters, digits and '_', not starting with a digit)"
EVERYTHING = "..."  # group_by: [...] groups by every label (one group per alert)
NO_ESCALATION = "none"
INTEGRATION_STATES = ("DOWN", "DEGRADED", "PENDING", "MAINTENANCE", "UNKNOWN")
CHECK_SEVERITIES = ("WARN", "ERROR")
NOTIFICATION_TYPES = ("UPDATE", "SEED", "DELETE", "UNDELETE", "TRANSFER", "UNDER_REVIEW", "REVIEWED", "EXIT",
                      "ENTER", "REMOVED")
Severity = Literal["critical", "error", "warning", "info"]


class AlertingConfigError(ConfigFileError):
    """The alerting file cannot be used: names the file, the field and what is expected."""


LabelName = Annotated[StrictStr, matching(rf"^{LABEL_NAME}$", LABEL_EXPECTED)]
RuleName = Annotated[StrictStr, matching(RULE_NAME_PATTERN, RULE_NAME_EXPECTED)]


def _matchers(value: Any) -> tuple[Matcher, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise expected('a list of matchers such as ["severity=critical"]', describe(value))
    compiled = []
    for index, text in enumerate(value):
        try:
            compiled.append(parse_matcher(text))
        except MatcherError as error:
            raise expected(str(error), describe(text), field=f"[{index}]") from None
    return tuple(compiled)


Matchers = Annotated[tuple[Any, ...], BeforeValidator(_matchers)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- rules -------------------------------------------------------------------------------------------------------


class Consecutive(_Model):
    """Where a source is a sequence of observations: how many in a row fire and resolve an alert."""

    failures: int = Field(default=1, ge=1, le=1000)
    successes: int = Field(default=1, ge=1, le=1000)


class _Rule(_Model):
    name: RuleName
    source: str
    enabled: StrictBool = True
    description: StrictStr = ""
    severity: Severity = "warning"
    matchers: Matchers = ()  # over the labels the source gives its alerts
    labels: dict[LabelName, StrictStr] = Field(default_factory=dict)
    annotations: dict[LabelName, StrictStr] = Field(default_factory=dict)

    event: bool = Field(default=False, exclude=True)  # set by the event rules below

    @field_validator("labels")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in RESERVED_LABELS:
                raise expected(f"a label other than {', '.join(RESERVED_LABELS)} (the engine sets those)",
                               repr(name), field=name)
        return value


class StateRule(_Rule):
    """An alert that fires while a condition holds and resolves when it stops holding."""

    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    consecutive: Consecutive = Consecutive()


class EventRule(_Rule):
    """An alert per event (or per company, merging its events while open): resolved by acknowledgement or after
    ``resolve_after``."""

    event: bool = Field(default=True, exclude=True)
    resolve_after: Duration = Field(default=24 * 3600.0, gt=0)
    resolve_on_ack: StrictBool = True


class _Polled(_Model):
    evaluate_every: Duration = Field(default=60.0, ge=5)


class IntegrationStateRule(StateRule):
    source: Literal["integration_state"]
    states: tuple[Literal["DOWN", "DEGRADED", "PENDING", "MAINTENANCE", "UNKNOWN"], ...] = Field(
        default=("DOWN",), min_length=1)


class IntegrationFailoverRule(EventRule):
    source: Literal["integration_failover"]


class SlaBurnRateRule(StateRule, _Polled):
    """Google's multi-window, multi-burn-rate alert: both windows burn the error budget ``factor`` times too fast."""

    source: Literal["sla_burn_rate"]
    long_window: Duration = Field(default=3600.0, gt=0)
    short_window: Duration = Field(default=300.0, gt=0)
    factor: float = Field(default=14.4, gt=0)
    min_probes: int = Field(default=5, ge=1)  # in the short window: too few probes say nothing

    @model_validator(mode="after")
    def _short_within_long(self) -> SlaBurnRateRule:
        if self.short_window >= self.long_window:
            raise expected("a short_window shorter than long_window", f"{self.short_window:g}s",
                           field="short_window")
        return self


class AssetCheckRule(StateRule):
    source: Literal["asset_check"]
    check_severities: tuple[Literal["WARN", "ERROR"], ...] = Field(default=CHECK_SEVERITIES, min_length=1)
    severity_map: dict[Literal["WARN", "ERROR"], Severity] = Field(
        default_factory=lambda: {"WARN": "warning", "ERROR": "error"})


class DagsterRunRule(StateRule):
    source: Literal["dagster_run"]


class DagsterTickRule(StateRule):
    source: Literal["dagster_tick"]


class LandingFreshnessRule(StateRule, _Polled):
    source: Literal["landing_freshness"]
    max_age: Duration = Field(default=30 * 60.0, gt=0)


class ElementSelector(_Model):
    """An element change of a D&B notification: its dotted path (``.*`` at the end: anything below), and
    optionally what it became or was. A mapping matches when it contains the given keys with these values."""

    path: StrictStr = Field(min_length=1)
    current: Any = None
    previous: Any = None
    match_current: StrictBool = Field(default=False, exclude=True)
    match_previous: StrictBool = Field(default=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _given(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"path": data}
        if isinstance(data, Mapping):
            data = dict(data)
            data["match_current"] = "current" in data
            data["match_previous"] = "previous" in data
        return data


class DnbEventRule(EventRule):
    source: Literal["dnb_event"]
    types: tuple[StrictStr, ...] = ()
    elements: tuple[ElementSelector, ...] = ()
    references: tuple[StrictStr, ...] = ()
    duns: tuple[Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")], ...] = ()
    portfolios: tuple[StrictStr, ...] = ()
    one_alert_per: Literal["company", "notification"] = "company"

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(value):
            if name not in NOTIFICATION_TYPES:
                raise expected("D&B notification types (" + ", ".join(NOTIFICATION_TYPES) + ")", repr(name),
                               field=f"[{index}]")
        return value

    @model_validator(mode="after")
    def _selects_something(self) -> DnbEventRule:
        if not self.types and not self.elements:
            raise expected("types or elements (or both) to select notifications", "neither", field="types")
        return self


THRESHOLD_METRICS = ("integration_error_rate", "integration_latency_p95_ms", "dnb_rate_budget_use",
                     "dnb_quarantine_count", "dnb_notification_volume")
ANOMALY_METRICS = ("dnb_notification_volume", "integration_latency_p95_ms")


class ThresholdRule(StateRule, _Polled):
    source: Literal["threshold"]
    metric: Literal["integration_error_rate", "integration_latency_p95_ms", "dnb_rate_budget_use",
                    "dnb_quarantine_count", "dnb_notification_volume"]
    window: Duration = Field(default=900.0, gt=0)
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float
    min_samples: int = Field(default=1, ge=1)  # integration metrics: probes needed in the window


class AnomalyRule(StateRule, _Polled):
    """A day's value against its own trailing baseline: robust z-score (median and MAD), optionally by weekday."""

    source: Literal["anomaly"]
    metric: Literal["dnb_notification_volume", "integration_latency_p95_ms"]
    evaluate_every: Duration = Field(default=3600.0, ge=5)
    baseline: Literal["trailing", "weekday"] = "trailing"
    history_days: int = Field(default=28, ge=3, le=366)
    min_history: int = Field(default=7, ge=3)  # baseline days (with data) needed before the rule may fire
    threshold: float = Field(default=3.5, gt=0)  # robust z-score
    direction: Literal["up", "down", "both"] = "up"


class ReceiverHealthRule(StateRule):
    source: Literal["receiver_health"]


PROVIDER_IMPACTS = ("none", "minor", "major", "critical", "maintenance")


class ProviderIncidentRule(StateRule):
    """An incident a provider declares on its status page (inbound webhooks): fires while the provider says it is
    open, with a severity by its impact, and resolves when the provider resolves it."""

    source: Literal["provider_incident"]
    impacts: tuple[Literal["none", "minor", "major", "critical", "maintenance"], ...] = Field(
        default=("minor", "major", "critical"), min_length=1)
    severity_by_impact: dict[Literal["none", "minor", "major", "critical", "maintenance"], Severity] = Field(
        default_factory=lambda: {"critical": "critical", "major": "error", "minor": "warning", "none": "info",
                                 "maintenance": "info"})


RULE_MODELS: dict[str, type[_Rule]] = {
    "integration_state": IntegrationStateRule,
    "integration_failover": IntegrationFailoverRule,
    "sla_burn_rate": SlaBurnRateRule,
    "asset_check": AssetCheckRule,
    "dagster_run": DagsterRunRule,
    "dagster_tick": DagsterTickRule,
    "landing_freshness": LandingFreshnessRule,
    "dnb_event": DnbEventRule,
    "threshold": ThresholdRule,
    "anomaly": AnomalyRule,
    "receiver_health": ReceiverHealthRule,
    "provider_incident": ProviderIncidentRule,
}
SOURCES = tuple(RULE_MODELS)
RuleConfig = (IntegrationStateRule | IntegrationFailoverRule | SlaBurnRateRule | AssetCheckRule | DagsterRunRule
              | DagsterTickRule | LandingFreshnessRule | DnbEventRule | ThresholdRule | AnomalyRule
              | ReceiverHealthRule | ProviderIncidentRule)

# Labels every alert has, set by the engine.
RESERVED_LABELS = ("alertname", "severity", "source")
_INTEGRATION_LABELS = ("integration", "category", "group")
# The labels each source gives its alerts (templates may use these, the rule's own labels and the reserved ones).
SOURCE_LABELS: dict[str, tuple[str, ...]] = {
    "integration_state": _INTEGRATION_LABELS,
    "integration_failover": ("failover_group", "from_integration", "to_integration"),
    "sla_burn_rate": _INTEGRATION_LABELS,
    "asset_check": ("asset", "check_name"),
    "dagster_run": ("job",),
    "dagster_tick": ("instigator", "instigator_type"),
    "landing_freshness": ("reference",),
    "dnb_event": ("reference", "duns", "notification_type"),
    "receiver_health": ("receiver",),
    "provider_incident": (*_INTEGRATION_LABELS, "provider", "incident"),
}
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "integration_error_rate": _INTEGRATION_LABELS,
    "integration_latency_p95_ms": _INTEGRATION_LABELS,
    "dnb_rate_budget_use": (),
    "dnb_quarantine_count": ("reference",),
    "dnb_notification_volume": ("reference",),
}
# What ``details`` holds per source, for templates.
SOURCE_DETAILS: dict[str, tuple[str, ...]] = {
    "integration_state": ("state", "cause", "explained_by", "since"),
    "integration_failover": ("reason", "switched_at"),
    "sla_burn_rate": ("burn_rate_long", "burn_rate_short", "long_window", "short_window", "factor", "sla"),
    "asset_check": ("description", "check_severity", "run_id", "status"),
    "dagster_run": ("run_id", "error", "failed_at"),
    "dagster_tick": ("error", "tick_status", "failed_at"),
    "landing_freshness": ("last_success_at", "last_error", "max_age", "age"),
    "dnb_event": ("name", "elements", "count", "delivery_ts", "notification_key", "changes"),
    "threshold": ("metric", "window", "op", "threshold", "samples"),
    "anomaly": ("metric", "day", "median", "mad", "robust_z", "history"),
    "receiver_health": ("reason", "since"),
    "provider_incident": ("title", "status", "impact", "url", "detail", "kind", "started_at"),
}


def source_labels(rule: _Rule) -> tuple[str, ...]:
    if isinstance(rule, ThresholdRule | AnomalyRule):
        return METRIC_LABELS[rule.metric]
    labels = SOURCE_LABELS[rule.source]
    if isinstance(rule, DnbEventRule) and rule.portfolios:
        labels = (*labels, "portfolio")
    return labels


# -- routes, inhibition, time intervals, escalation ------------------------------------------------------------


class RouteConfig(_Model):
    receiver: StrictStr | None = None
    matchers: Matchers = ()
    continue_: StrictBool = Field(default=False, alias="continue")
    group_by: tuple[StrictStr, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = Field(default=None, gt=0)
    repeat_interval: Duration | None = Field(default=None, gt=0)
    mute_time_intervals: tuple[StrictStr, ...] = ()
    active_time_intervals: tuple[StrictStr, ...] = ()
    escalation: StrictStr | None = None  # a policy name, or "none"
    routes: tuple[RouteConfig, ...] = ()

    @field_validator("group_by")
    @classmethod
    def _label_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for index, name in enumerate(value or ()):
            if name != EVERYTHING and not re.fullmatch(LABEL_NAME, name):
                raise expected(f"{LABEL_EXPECTED}, or '...' for every label", repr(name), field=f"[{index}]")
        if value and EVERYTHING in value and len(value) > 1:
            raise expected("either '...' alone or label names", "both")
        return value


class InhibitRuleConfig(_Model):
    """While an alert matching ``source_matchers`` fires, alerts matching ``target_matchers`` with the same values of
    the ``equal`` labels are inhibited (kept, shown, not notified)."""

    source_matchers: Matchers = Field(min_length=1)
    target_matchers: Matchers = Field(min_length=1)
    equal: tuple[LabelName, ...] = ()


class TimeRangeConfig(_Model):
    start_time: StrictStr
    end_time: StrictStr


class TimeIntervalEntry(_Model):
    times: tuple[TimeRangeConfig, ...] = ()
    weekdays: tuple[StrictStr, ...] = ()
    days_of_month: tuple[StrictStr | int, ...] = ()
    months: tuple[StrictStr | int, ...] = ()
    years: tuple[StrictStr | int, ...] = ()
    location: StrictStr = "UTC"

    def compile(self) -> TimeInterval:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.location)
        except (ZoneInfoNotFoundError, ValueError):
            raise expected("an IANA time zone such as Europe/Berlin", repr(self.location), field="location") from None
        compiled: dict[str, Any] = {"location": self.location}
        for name in ("weekdays", "days_of_month", "months", "years"):
            try:
                compiled[name] = parse_ranges(getattr(self, name), name)
            except TimeIntervalError as error:
                raise expected(str(error), repr(list(getattr(self, name))), field=name) from None
        for index, time_range in enumerate(self.times):
            try:
                parse_time_range(time_range.start_time, time_range.end_time)
            except TimeIntervalError as error:
                raise expected(str(error), f"{time_range.start_time}-{time_range.end_time}",
                               field=f"times[{index}]") from None
        compiled["times"] = tuple(parse_time_range(t.start_time, t.end_time) for t in self.times)
        return TimeInterval(**compiled)


class NamedTimeInterval(_Model):
    name: StrictStr = Field(min_length=1)
    time_intervals: tuple[TimeIntervalEntry, ...] = Field(min_length=1)
    compiled: tuple[Any, ...] = Field(default=(), exclude=True)

    @model_validator(mode="after")
    def _compile(self) -> NamedTimeInterval:
        compiled = []
        for index, entry in enumerate(self.time_intervals):
            try:
                compiled.append(entry.compile())
            except PydanticCustomError as error:
                context = error.context or {}
                raise expected(str(context["expected"]), context.get("got"),
                               field=f"time_intervals[{index}].{context.get('field')}") from None
        object.__setattr__(self, "compiled", tuple(compiled))
        return self


class EscalationLevel(_Model):
    after: Duration = 0.0  # from the group's first notification (or from the re-arm after an acknowledgement expired)
    receivers: tuple[StrictStr, ...] = Field(min_length=1)


class EscalationPolicy(_Model):
    """Levels notified one after another while a group has unacknowledged firing alerts; the whole sequence is
    repeated ``repeat`` more times, ``repeat_after`` after the last level."""

    name: StrictStr = Field(min_length=1)
    severities: tuple[Severity, ...] = ()  # the default policy for groups whose most severe alert has one of these
    levels: tuple[EscalationLevel, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100)
    repeat_after: Duration = Field(default=1800.0, gt=0)
    ack_timeout: Duration | None = None  # overrides acknowledgement.timeout for groups under this policy

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        afters = [level.after for level in self.levels]
        if afters != sorted(afters):
            raise expected("levels in the order they are reached (after: increasing)", "a later level earlier",
                           field="levels")
        return self


class EvaluationSettings(_Model):
    budget: Duration = Field(default=20.0, gt=0, le=50)  # a tick stops reading sources after this
    behind_after: Duration = Field(default=120.0, ge=10)  # alerting_healthy fails when no evaluation finished since
    dnb_batch: int = Field(default=5000, ge=1)  # landed notifications read per tick at most


class AcknowledgementSettings(_Model):
    timeout: Duration | None = 4 * 3600.0  # an acknowledgement lapses after this while the alert still fires


class PortfolioConfig(_Model):
    duns: tuple[Annotated[StrictStr, Field(pattern=r"^[0-9]{9}$")], ...] = ()
    file: Path | None = None  # one DUNS a line, or a CSV file with a `column`
    column: StrictStr | None = None


# -- the loaded file --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertingConfig:
    path: Path
    rules: tuple[RuleConfig, ...]
    route: RouteConfig
    inhibit_rules: tuple[InhibitRuleConfig, ...] = ()
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    escalation_policies: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    receivers: Mapping[str, ReceiverConfig] = field(default_factory=dict)
    portfolios: Mapping[str, frozenset[str]] = field(default_factory=dict)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    acknowledgement: AcknowledgementSettings = field(default_factory=AcknowledgementSettings)

    @property
    def enabled_rules(self) -> tuple[RuleConfig, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def rule(self, name: str) -> RuleConfig | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def policy_for_severity(self, severity: str) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies.values() if severity in p.severities), None)


TOP_LEVEL_KEYS = ("evaluation", "acknowledgement", "default_rules", "portfolios", "rules", "route", "inhibit_rules",
                  "time_intervals", "escalation_policies", "receivers")


def load_alerting(path: Path) -> AlertingConfig:
    """Read and validate the alerting file; a missing file means the default rules with no receivers (alerts are
    recorded and shown, nothing is sent). ``AlertingConfigError`` names the first problem."""
    path = Path(path)
    if not path.exists():
        return parse_alerting(path, {})
    if not path.is_file():
        raise AlertingConfigError(path, None, f"an alerting YAML file (set {ENV_ALERTING_CONFIG})", "a directory")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise AlertingConfigError(path, f"line {mark.line + 1}" if mark is not None else None, "valid YAML",
                                  str(getattr(error, "problem", None) or error)) from None
    except UnicodeDecodeError:
        raise AlertingConfigError(path, None, "UTF-8 text", "undecodable bytes") from None
    return parse_alerting(path, data)


def parse_alerting(path: Path, data: Any) -> AlertingConfig:
    """Validate the parsed YAML of ``path`` (see ``load_alerting``)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise AlertingConfigError(path, None, "a mapping with rules, route, receivers, ...", describe(data))
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            guess = closest(str(key), TOP_LEVEL_KEYS)
            raise AlertingConfigError(path, str(key), "one of the keys " + ", ".join(TOP_LEVEL_KEYS),
                                      "unknown key" + (f" (did you mean {guess!r}?)" if guess else ""))
    receivers = parse_receivers(path, data.get("receivers"))
    time_intervals = {
        item.name: item.compiled
        for item in _list(path, "time_intervals", data.get("time_intervals"), NamedTimeInterval, unique="name")
    }
    policies = {item.name: item for item in
                _list(path, "escalation_policies", data.get("escalation_policies"), EscalationPolicy, unique="name")}
    inhibit_rules = tuple(_list(path, "inhibit_rules", data.get("inhibit_rules"), InhibitRuleConfig))
    route = _route(path, data.get("route"), receivers)
    config = AlertingConfig(
        path=path,
        rules=_rules(path, data),
        route=route,
        inhibit_rules=inhibit_rules,
        time_intervals=time_intervals,
        escalation_policies=policies,
        receivers=receivers,
        portfolios=_portfolios(path, data.get("portfolios")),
        evaluation=_validated(path, "evaluation", EvaluationSettings, data.get("evaluation") or {}),
        acknowledgement=_validated(path, "acknowledgement", AcknowledgementSettings,
                                   data.get("acknowledgement") or {}),
    )
    _check_references(config)
    return config


def _rules(path: Path, data: Mapping[str, Any]) -> tuple[RuleConfig, ...]:
    use_defaults = data.get("default_rules", True)
    if not isinstance(use_defaults, bool):
        raise AlertingConfigError(path, "default_rules", "true or false", describe(use_defaults))
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise AlertingConfigError(path, "rules", "a list of rules", describe(raw_rules))
    defaults = {rule["name"]: rule for rule in DEFAULT_RULES} if use_defaults else {}
    merged: dict[str, tuple[str, dict[str, Any]]] = {
        name: (f"default rule {name}", dict(rule)) for name, rule in defaults.items()}
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        label = f"rules[{index}]"
        if not isinstance(raw, Mapping):
            raise AlertingConfigError(path, label, "a rule (a mapping with name, source, ...)", describe(raw))
        name = raw.get("name")
        if isinstance(name, str):
            label += f" ({name})"
            if name in seen:
                raise AlertingConfigError(path, f"{label}.name", "a rule name used once", repr(name))
            seen.add(name)
        base = defaults.get(name) if isinstance(name, str) else None
        merged[str(name) if base else f"#{index}"] = (label, {**base, **raw} if base else dict(raw))
    return tuple(_rule(path, label, raw) for label, raw in merged.values())


def _rule(path: Path, label: str, raw: Mapping[str, Any]) -> RuleConfig:
    source = raw.get("source")
    model = RULE_MODELS.get(source) if isinstance(source, str) else None
    if model is None:
        guess = closest(str(source), SOURCES) if isinstance(source, str) else None
        raise AlertingConfigError(path, f"{label}.source", "one of " + ", ".join(SOURCES),
                                  describe(source) + (f" (did you mean {guess!r}?)" if guess else ""))
    rule = _validated(path, label, model, raw)
    return rule  # type: ignore[no-any-return]


def _route(path: Path, raw: Any, receivers: Mapping[str, ReceiverConfig]) -> RouteConfig:
    if raw is None:
        return RouteConfig(receiver=next(iter(receivers), None))
    _refuse_cycles(path, raw, "route", [])
    route = _validated(path, "route", RouteConfig, raw)
    if route.matchers:
        raise AlertingConfigError(path, "route.matchers", "no matchers on the root route (it takes every alert)",
                                  "matchers")
    if route.receiver is None and receivers:
        raise AlertingConfigError(path, "route.receiver", "a receiver for the root route (alerts that no "
                                  "child route takes go there)", "nothing")
    return route


def _refuse_cycles(path: Path, raw: Any, where: str, trail: list[int]) -> None:
    """A YAML alias can make a route contain itself (``&r {routes: [*r]}``): refuse it before recursing into it."""
    if not isinstance(raw, Mapping):
        return
    if id(raw) in trail:
        raise AlertingConfigError(path, where, "a tree of routes (a route cannot contain itself)",
                                  "a YAML alias back to an enclosing route")
    children = raw.get("routes") or []
    if isinstance(children, list):
        for index, child in enumerate(children):
            _refuse_cycles(path, child, f"{where}.routes[{index}]", [*trail, id(raw)])


def _portfolios(path: Path, raw: Any) -> dict[str, frozenset[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise AlertingConfigError(path, "portfolios", "a mapping of portfolio name to DUNS (duns, file)",
                                  describe(raw))
    portfolios = {}
    for name, item in raw.items():
        config = _validated(path, f"portfolios.{name}", PortfolioConfig, item or {})
        numbers = set(config.duns)
        if config.file is not None:
            numbers |= _portfolio_file(path, f"portfolios.{name}.file", config)
        portfolios[str(name)] = frozenset(numbers)
    return portfolios


def _portfolio_file(path: Path, where: str, config: PortfolioConfig) -> set[str]:
    assert config.file is not None
    file = config.file if config.file.is_absolute() else path.parent / config.file
    if not file.is_file():
        raise AlertingConfigError(path, where, "a readable file of DUNS numbers", repr(str(config.file)))
    text = file.read_text(encoding="utf-8")
    if config.column:
        values = [row.get(config.column, "") for row in csv.DictReader(text.splitlines())]
    else:
        values = [line.split("#", 1)[0] for line in text.splitlines()]
    found = {value.strip() for value in values if value.strip()}
    bad = sorted(value for value in found if not re.fullmatch(r"[0-9]{9}", value))
    if bad:
        raise AlertingConfigError(path, where, "9-digit DUNS numbers only", repr(bad[0]))
    return found


def _check_references(config: AlertingConfig) -> None:
    path = config.path
    names = set(config.receivers)
    known = ", ".join(sorted(names)) or "none are defined"

    def receiver(name: str | None, where: str) -> None:
        if name is not None and name not in names:
            guess = closest(name, sorted(names))
            raise AlertingConfigError(path, where, f"a receiver defined under receivers ({known})",
                                      repr(name) + (f" (did you mean {guess!r}?)" if guess else ""))

    def visit(route: RouteConfig, where: str) -> None:
        receiver(route.receiver, f"{where}.receiver")
        for kind in ("mute_time_intervals", "active_time_intervals"):
            for index, name in enumerate(getattr(route, kind)):
                if name not in config.time_intervals:
                    raise AlertingConfigError(path, f"{where}.{kind}[{index}]",
                                              "a name defined under time_intervals", repr(name))
        if route.escalation not in (None, NO_ESCALATION) and route.escalation not in config.escalation_policies:
            raise AlertingConfigError(path, f"{where}.escalation",
                                      f"a policy defined under escalation_policies, or {NO_ESCALATION!r}",
                                      repr(route.escalation))
        for index, child in enumerate(route.routes):
            visit(child, f"{where}.routes[{index}]")

    visit(config.route, "route")
    for policy_index, policy in enumerate(config.escalation_policies.values()):
        for level_index, level in enumerate(policy.levels):
            for index, name in enumerate(level.receivers):
                receiver(name, f"escalation_policies[{policy_index}] ({policy.name}).levels[{level_index}]"
                         f".receivers[{index}]")
    for index, rule in enumerate(config.rules):
        label = f"rules[{index}] ({rule.name})"
        if isinstance(rule, DnbEventRule):
            for position, portfolio in enumerate(rule.portfolios):
                if portfolio not in config.portfolios:
                    raise AlertingConfigError(path, f"{label}.portfolios[{position}]",
                                              "a portfolio defined under portfolios", repr(portfolio))
        _check_templates(path, label, rule)


def _check_templates(path: Path, label: str, rule: RuleConfig) -> None:
    """Render every annotation with example values of exactly the labels and details the rule's alerts have."""
    labels = {name: f"<{name}>" for name in (*RESERVED_LABELS, *source_labels(rule), *rule.labels)}
    details = {name: _Sample(name) for name in SOURCE_DETAILS.get(rule.source, ())}
    context = template_context(labels=labels, value=1.0, details=details, rule=rule.name, severity=rule.severity,
                               source=rule.source)
    for name, text in rule.annotations.items():
        where = f"{label}.annotations.{name}"
        try:
            render(compile_template(text), context)
        except TemplateProblem as error:
            message = str(error)
            hint = ""
            found = re.search(r"has no attribute '([^']+)'", message)
            if found and "dict object" in message:
                hint = " (labels here: " + ", ".join(sorted(labels)) + "; details: " + (
                    ", ".join(sorted(details)) or "none") + ")"
            raise AlertingConfigError(path, where, "a template using only the labels and details of this rule's "
                                      "alerts" + hint, message) from None


class _Sample(float):
    """An example detail for checking templates: a number (1.0) that prints as ``<name>`` and iterates as empty, so
    filters such as ``round``, ``duration`` or a ``for`` loop work as they will on the real value."""

    def __new__(cls, name: str) -> _Sample:
        sample = super().__new__(cls, 1.0)
        sample.name = name  # type: ignore[attr-defined]
        return sample

    def __str__(self) -> str:
        return f"<{self.name}>"  # type: ignore[attr-defined]

    def __iter__(self) -> Any:
        return iter(())

    def __getitem__(self, key: Any) -> _Sample:
        return self


def _raw_list(path: Path, key: str, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AlertingConfigError(path, key, f"a list of {key.replace('_', ' ')}", describe(raw))
    return raw


def _list(path: Path, key: str, raw: Any, model: type[BaseModel], unique: str | None = None) -> list[Any]:
    items: list[Any] = []
    seen: set[Any] = set()
    for index, item in enumerate(_raw_list(path, key, raw)):
        label = f"{key}[{index}]"
        if unique and isinstance(item, Mapping) and isinstance(item.get(unique), str):
            label += f" ({item[unique]})"
        value = _validated(path, label, model, item)
        if unique:
            if getattr(value, unique) in seen:
                raise AlertingConfigError(path, f"{label}.{unique}", f"a {unique} used once",
                                          repr(getattr(value, unique)))
            seen.add(getattr(value, unique))
        items.append(value)
    return items


def _validated(path: Path, label: str, model: type[BaseModel], raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise AlertingConfigError(path, label, "a mapping", describe(raw))
    try:
        return model.model_validate(dict(raw))
    except ValidationError as error:
        where, form, got = first_problem(error, f"{label}.", model=model)
        raise AlertingConfigError(path, (where or label).replace(".[", "["), form, got) from None
    except RecursionError:
        raise AlertingConfigError(path, label, "a finite structure", "a structure that contains itself") from None


def severity_rank(severity: str) -> int:
    """0 for critical ... 3 for info (lower is more urgent)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def label_names(rule: RuleConfig) -> Sequence[str]:
    return (*RESERVED_LABELS, *source_labels(rule), *rule.labels)
