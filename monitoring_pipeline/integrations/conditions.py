"""Conditions a probe's response must meet, each evaluated to a named pass/fail result with the actual value.

Subjects and their YAML forms (see docs/integrations.md):

- ``status: 200`` | ``[200, 204]`` | ``"2xx"`` | ``"200-299"`` | ``{in: [...]}`` | ``{min: 200, max: 299}``
- ``response_time: 800ms`` | ``{max: 800ms}``
- ``tls_days_left: 14`` | ``{min: 14}``
- ``json: $.status.indicator`` (a JSONPath, jsonpath-ng's extended syntax) with operators
- ``header: Content-Type`` with operators
- ``body: {regex: "Operational"}`` (the raw body text) with operators
- ``field: role`` (a value other probe types report: Redis INFO fields, DNS answers, a certificate's issuer...;
  ``a.b`` reads a nested value) with operators

Operators: ``equals``, ``not_equals``, ``in``, ``exists``, ``regex``, ``length`` (a number or ``{min, max}``),
``contains`` (a list holds the value, or each of a list of values; a string holds the text), ``lt``, ``le``,
``gt``, ``ge`` (numeric). A JSONPath matching several values compares their list.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse as parse_jsonpath

from monitoring_pipeline.integrations.durations import format_duration, parse_duration

SUBJECTS = ("status", "response_time", "tls_days_left", "json", "header", "body", "field")
OPERATORS = ("equals", "not_equals", "in", "exists", "regex", "length", "contains", "lt", "le", "gt", "ge")
_OPERATORS_BY_SUBJECT = {
    "json": OPERATORS,
    "header": OPERATORS,
    "body": ("equals", "not_equals", "regex", "length", "contains"),
    "field": OPERATORS,
}
_NUMERIC = {"lt": (lambda a, b: a < b, "<"), "le": (lambda a, b: a <= b, "<="),
            "gt": (lambda a, b: a > b, ">"), "ge": (lambda a, b: a >= b, ">=")}
_ACTUAL_MAX_CHARS = 200
_MISSING = object()

# Error classes a failed condition gives its probe.
ERROR_CLASS_BY_SUBJECT = {
    "status": "http_status",
    "response_time": "latency",
    "tls_days_left": "tls",
    "json": "condition",
    "header": "condition",
    "body": "condition",
    "field": "condition",
}


class ConditionSpecError(ValueError):
    """A condition that cannot be used; ``field`` is the key inside the condition, ``expected`` its form."""

    def __init__(self, field: str | None, expected: str, got: str | None = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        super().__init__(f"{field + ': ' if field else ''}expected {expected}" + (f", got {got}" if got else ""))


@dataclass(frozen=True)
class Observation:
    """What a probe saw: the inputs conditions are evaluated on."""

    status_code: int | None
    latency_ms: float | None
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive (httpx.Headers) in practice
    body: bytes = b""
    tls_days_left: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)  # what a non-HTTP probe reports, by name

    @functools.cached_property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @functools.cached_property
    def document(self) -> Any:
        """The body parsed as JSON, or ``_MISSING`` when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return _MISSING


@dataclass(frozen=True)
class ConditionResult:
    name: str
    passed: bool
    actual: str | None
    error_class: str | None = None  # set when it failed

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "actual": self.actual}


@dataclass(frozen=True)
class Condition:
    """One compiled condition."""

    name: str
    subject: str
    argument: str | None  # the JSONPath or header name
    operators: tuple[tuple[str, Any], ...]

    @property
    def needs_body(self) -> bool:
        return self.subject in ("json", "body")

    def evaluate(self, observation: Observation) -> ConditionResult:
        actual = self._actual(observation)
        if actual is _NOT_JSON:
            return ConditionResult(self.name, False, "body is not JSON", "body")
        passed = all(_apply(operator, expected, actual) for operator, expected in self.operators)
        return ConditionResult(
            self.name, passed, _show(actual), None if passed else ERROR_CLASS_BY_SUBJECT[self.subject]
        )

    def _actual(self, observation: Observation) -> Any:
        if self.subject == "status":
            return observation.status_code if observation.status_code is not None else _MISSING
        if self.subject == "response_time":
            return observation.latency_ms if observation.latency_ms is not None else _MISSING
        if self.subject == "tls_days_left":
            return observation.tls_days_left if observation.tls_days_left is not None else _MISSING
        if self.subject == "header":
            wanted = (self.argument or "").lower()
            value = next((v for k, v in observation.headers.items() if k.lower() == wanted), None)
            return _MISSING if value is None else value
        if self.subject == "body":
            return observation.text
        if self.subject == "field":
            return _field_value(observation.fields, self.argument or "")
        document = observation.document
        if document is _MISSING:
            return _NOT_JSON
        matches = [match.value for match in _jsonpath(self.argument or "$").find(document)]
        if not matches:
            return _MISSING
        return matches[0] if len(matches) == 1 else matches


_NOT_JSON = object()


def compile_condition(raw: Any) -> Condition:
    """A condition from its YAML mapping; ``ConditionSpecError`` names the offending key."""
    if not isinstance(raw, Mapping):
        raise ConditionSpecError(None, "a mapping such as {status: 200} or {json: $.status, equals: ok}", _kind(raw))
    spec = {str(key): value for key, value in raw.items()}
    name = spec.pop("name", None)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConditionSpecError("name", "a non-empty string", repr(name))
    subjects = [key for key in spec if key in SUBJECTS]
    if len(subjects) != 1:
        raise ConditionSpecError(
            None, "exactly one of " + ", ".join(SUBJECTS), ", ".join(subjects) if subjects else "none"
        )
    subject = subjects[0]
    value = spec.pop(subject)
    if subject == "status":
        condition = _status(value, spec)
    elif subject == "response_time":
        condition = _bounded(subject, value, spec, "max", "le", parse_duration_ms, _format_ms)
    elif subject == "tls_days_left":
        condition = _bounded(subject, value, spec, "min", "ge", _number("tls_days_left"), lambda v: f"{v:g}")
    elif subject in ("json", "header", "field"):
        condition = _with_operators(subject, value, spec)
    else:
        if not isinstance(value, Mapping):
            raise ConditionSpecError("body", "a mapping of operators such as {regex: Operational}", _kind(value))
        condition = _with_operators("body", None, {**spec, **{str(k): v for k, v in value.items()}})
    return Condition(name.strip() if name else condition.name, condition.subject, condition.argument,
                     condition.operators)


# -- compiling ------------------------------------------------------------------------------------------------


def _status(value: Any, rest: Mapping[str, Any]) -> Condition:
    if rest:
        raise ConditionSpecError(next(iter(rest)), "no other key next to status")
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in ("in", "min", "max")]
        if unknown:
            raise ConditionSpecError(f"status.{unknown[0]}", "only in, min or max")
        if "in" in value:
            return _status(value["in"], {})
        low, high = value.get("min", 100), value.get("max", 599)
        if not all(_is_int(v) for v in (low, high)) or low > high:
            raise ConditionSpecError("status", "min and max as status codes with min <= max", f"{low}..{high}")
        return Condition(f"status in {low}-{high}", "status", None, (("range", ((low, high),)),))
    codes = value if isinstance(value, list) else [value]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if _is_int(code) and 100 <= code <= 599:
            ranges.append((code, code))
        elif isinstance(code, str) and re.fullmatch(r"[1-5]xx", code.strip().lower()):
            base = int(code.strip()[0]) * 100
            ranges.append((base, base + 99))
        elif isinstance(code, str) and re.fullmatch(r"\d{3}\s*-\s*\d{3}", code.strip()):
            low, high = (int(part) for part in code.split("-"))
            if low > high:
                raise ConditionSpecError("status", "a range low-high with low <= high", repr(code))
            ranges.append((low, high))
        else:
            raise ConditionSpecError(
                "status", "a status code (200), a list ([200, 204]), a class ('2xx') or a range ('200-299')",
                repr(code),
            )
    shown = ", ".join(str(v) for v in codes)
    single_code = len(codes) == 1 and _is_int(codes[0])
    return Condition(f"status == {shown}" if single_code else f"status in {shown}", "status", None,
                     (("range", tuple(ranges)),))


def _bounded(subject: str, value: Any, rest: Mapping[str, Any], bound: str, operator: str,
             parse: Callable[[Any], float], show: Callable[[float], str]) -> Condition:
    if rest:
        raise ConditionSpecError(next(iter(rest)), f"no other key next to {subject}")
    if isinstance(value, Mapping):
        if set(value) != {bound}:
            raise ConditionSpecError(subject, f"{{{bound}: ...}}", ", ".join(map(str, value)) or "an empty mapping")
        value = value[bound]
    try:
        limit = parse(value)
    except ConditionSpecError:
        raise
    except ValueError as error:
        raise ConditionSpecError(subject, str(error), repr(value)) from None
    symbol = _NUMERIC[operator][1]
    return Condition(f"{subject} {symbol} {show(limit)}", subject, None, ((operator, limit),))


def _with_operators(subject: str, argument: Any, spec: Mapping[str, Any]) -> Condition:
    if subject == "json":
        if not isinstance(argument, str) or not argument.strip():
            raise ConditionSpecError("json", "a JSONPath such as $.status.indicator", _kind(argument))
        argument = argument.strip()
        try:
            _jsonpath(argument)
        except (JSONPathError, Exception) as error:  # noqa: BLE001 - jsonpath-ng raises plain Exceptions too
            raise ConditionSpecError("json", "a JSONPath such as $.status.indicator", f"{argument!r} ({error})") \
                from None
    elif subject == "header" and (
        not isinstance(argument, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", argument)
    ):
        raise ConditionSpecError("header", "an HTTP header name such as Content-Type", _kind(argument))
    elif subject == "field" and (not isinstance(argument, str) or not re.fullmatch(_FIELD_NAME, argument)):
        raise ConditionSpecError("field", "the name of a value the probe reports, such as role or db0.keys",
                                 _kind(argument))
    allowed = _OPERATORS_BY_SUBJECT[subject]
    unknown = [key for key in spec if key not in allowed]
    if unknown:
        raise ConditionSpecError(unknown[0], f"an operator for {subject}: " + ", ".join(allowed))
    if not spec:
        raise ConditionSpecError(None, f"at least one operator for {subject}: " + ", ".join(allowed), "none")
    operators = tuple((operator, _operand(operator, spec[operator])) for operator in allowed if operator in spec)
    target = argument if subject != "header" else f"header {argument}"
    shown = " and ".join(_describe_operator(op, value) for op, value in operators)
    return Condition(f"{target or 'body'} {shown}", subject, argument, operators)


def _operand(operator: str, value: Any) -> Any:
    if operator == "in":
        if not isinstance(value, list) or not value:
            raise ConditionSpecError("in", "a non-empty list of values", _kind(value))
        return tuple(value)
    if operator == "contains":
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, Mapping | list) for v in values):
            raise ConditionSpecError("contains", "a value, or a non-empty list of values", _kind(value))
        return tuple(values)
    if operator == "exists":
        if not isinstance(value, bool):
            raise ConditionSpecError("exists", "true or false", _kind(value))
        return value
    if operator == "regex":
        if not isinstance(value, str):
            raise ConditionSpecError("regex", "a regular expression as a string", _kind(value))
        try:
            return re.compile(value)
        except re.error as error:
            raise ConditionSpecError("regex", "a valid regular expression", f"{value!r} ({error})") from None
    if operator == "length":
        if _is_int(value) and value >= 0:
            return (value, value)
        if isinstance(value, Mapping) and set(value) <= {"min", "max"} and value:
            low, high = value.get("min", 0), value.get("max", float("inf"))
            if all(_is_number(v) for v in (low, high)) and low <= high:
                return (low, high)
        raise ConditionSpecError("length", "a count (3) or {min: 1, max: 10}", _kind(value))
    if operator in _NUMERIC:
        return _number(operator)(value)
    return value  # equals / not_equals: any YAML value


def _describe_operator(operator: str, value: Any) -> str:
    if operator == "equals":
        return f"== {value!r}"
    if operator == "not_equals":
        return f"!= {value!r}"
    if operator == "in":
        return f"in {list(value)!r}"
    if operator == "exists":
        return "exists" if value else "is absent"
    if operator == "regex":
        return f"~ /{value.pattern}/"
    if operator == "contains":
        return "contains " + (repr(value[0]) if len(value) == 1 else repr(list(value)))
    if operator == "length":
        low, high = value
        return f"length == {low}" if low == high else f"length in [{low:g}, {high:g}]"
    return f"{_NUMERIC[operator][1]} {value:g}"


# -- evaluating -----------------------------------------------------------------------------------------------


def _apply(operator: str, expected: Any, actual: Any) -> bool:
    if operator == "exists":
        return (actual is not _MISSING) == expected
    if actual is _MISSING:
        return operator == "not_equals"
    if operator == "range":
        return isinstance(actual, int) and any(low <= actual <= high for low, high in expected)
    if operator == "equals":
        return _same(actual, expected)
    if operator == "not_equals":
        return not _same(actual, expected)
    if operator == "in":
        return any(_same(actual, candidate) for candidate in expected)
    if operator == "regex":
        return expected.search(actual if isinstance(actual, str) else json.dumps(actual)) is not None
    if operator == "contains":
        if isinstance(actual, str):
            return all(str(wanted) in actual for wanted in expected)
        if isinstance(actual, list):
            return all(any(_same(item, wanted) for item in actual) for wanted in expected)
        return False
    if operator == "length":
        if not isinstance(actual, str | list | dict):
            return False
        low, high = expected
        return low <= len(actual) <= high
    number = _as_number(actual)
    return number is not None and _NUMERIC[operator][0](number, expected)


def _same(actual: Any, expected: Any) -> bool:
    """YAML's values against JSON's: numbers compare as numbers, a string compares with a number's text."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or actual == expected and type(actual) is type(expected)
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)
    if isinstance(actual, str) and _is_number(expected):
        return actual == str(expected)
    return actual == expected


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _show(value: Any) -> str | None:
    if value is _MISSING:
        return "missing"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, float):
        text = f"{value:.1f}"
    return text if len(text) <= _ACTUAL_MAX_CHARS else text[: _ACTUAL_MAX_CHARS - 1] + "…"


_FIELD_NAME = r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*"


def _field_value(fields: Mapping[str, Any], name: str) -> Any:
    """The reported value ``name``; ``a.b`` reads key ``b`` of the mapping ``a`` (a name with a dot is looked up
    whole first: Redis reports some)."""
    if name in fields:
        return fields[name]
    value: Any = fields
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


@functools.lru_cache(maxsize=1024)
def _jsonpath(expression: str) -> Any:
    return parse_jsonpath(expression)


def parse_duration_ms(value: Any) -> float:
    return parse_duration(value) * 1000.0


def _format_ms(milliseconds: float) -> str:
    return format_duration(milliseconds / 1000.0)


def _number(name: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if not _is_number(value):
            raise ConditionSpecError(name, "a number", _kind(value))
        return float(value)

    return convert


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
