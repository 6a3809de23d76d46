"""Conditions, table-driven: each evaluates to a named pass/fail with the actual value; bad specs name the key."""

from __future__ import annotations

import json

import pytest

from monitoring_pipeline.integrations.conditions import ConditionSpecError, Observation, compile_condition

STATUSPAGE = {
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [{"name": "API", "status": "operational"}, {"name": "Dashboard", "status": "degraded"}],
    "queue_depth": 42,
    "version": "v2.14.1",
    "ok": True,
    "ratio": "0.25",
}


def observe(status=200, latency=120.0, body=STATUSPAGE, headers=None, tls_days_left=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Observation(status, latency, headers or {"content-type": "application/json"}, raw, tls_days_left)


CASES = [
    # (condition, observation, passed, actual)
    ({"status": 200}, observe(), True, "200"),
    ({"status": 200}, observe(status=204), False, "204"),
    ({"status": [200, 204]}, observe(status=204), True, "204"),
    ({"status": "2xx"}, observe(status=299), True, "299"),
    ({"status": "2xx"}, observe(status=301), False, "301"),
    ({"status": "200-399"}, observe(status=301), True, "301"),
    ({"status": {"min": 200, "max": 204}}, observe(status=205), False, "205"),
    ({"status": {"in": [418]}}, observe(status=418), True, "418"),
    ({"status": 200}, observe(status=None), False, "missing"),
    ({"response_time": "500ms"}, observe(latency=499.0), True, "499.0"),
    ({"response_time": {"max": "500ms"}}, observe(latency=501.0), False, "501.0"),
    ({"response_time": "1s"}, observe(latency=999.9), True, "999.9"),
    ({"tls_days_left": 14}, observe(tls_days_left=30.5), True, "30.5"),
    ({"tls_days_left": {"min": 14}}, observe(tls_days_left=3.0), False, "3.0"),
    ({"tls_days_left": 14}, observe(tls_days_left=None), False, "missing"),
    ({"json": "$.status.indicator", "equals": "none"}, observe(), True, "none"),
    ({"json": "$.status.indicator", "equals": "minor"}, observe(), False, "none"),
    ({"json": "$.status.indicator", "not_equals": "major"}, observe(), True, "none"),
    ({"json": "$.status.indicator", "in": ["none", "minor"]}, observe(), True, "none"),
    ({"json": "$.status.indicator", "in": ["major", "critical"]}, observe(), False, "none"),
    ({"json": "$.status.missing", "exists": True}, observe(), False, "missing"),
    ({"json": "$.status.missing", "exists": False}, observe(), True, "missing"),
    ({"json": "$.ok", "exists": True}, observe(), True, "true"),
    ({"json": "$.ok", "equals": True}, observe(), True, "true"),
    ({"json": "$.ok", "equals": "true"}, observe(), False, "true"),
    ({"json": "$.components", "length": 2}, observe(), True, None),
    ({"json": "$.components", "length": {"min": 3}}, observe(), False, None),
    ({"json": "$.components[0].name", "equals": "API"}, observe(), True, "API"),
    ({"json": "$.components[*].status", "equals": ["operational", "degraded"]}, observe(), True, None),
    ({"json": "$.components[?status != 'operational'].name", "equals": "Dashboard"}, observe(), True, "Dashboard"),
    ({"json": "$.version", "regex": r"^v2\.\d+"}, observe(), True, "v2.14.1"),
    ({"json": "$.version", "regex": r"^v3"}, observe(), False, "v2.14.1"),
    ({"json": "$.queue_depth", "lt": 100}, observe(), True, "42"),
    ({"json": "$.queue_depth", "gt": 100}, observe(), False, "42"),
    ({"json": "$.queue_depth", "ge": 42, "le": 42}, observe(), True, "42"),
    ({"json": "$.queue_depth", "equals": 42.0}, observe(), True, "42"),
    ({"json": "$.ratio", "le": 0.5}, observe(), True, "0.25"),
    ({"json": "$.version", "lt": 3}, observe(), False, "v2.14.1"),
    ({"json": "$.status.indicator", "equals": "none"}, observe(body=b"<html>down</html>"), False, "body is not JSON"),
    ({"header": "Content-Type", "regex": "json"}, observe(), True, "application/json"),
    ({"header": "X-RateLimit-Remaining", "gt": 10}, observe(headers={"x-ratelimit-remaining": "50"}), True, "50"),
    ({"header": "X-Missing", "exists": False}, observe(), True, "missing"),
    ({"header": "X-Missing", "equals": "x"}, observe(), False, "missing"),
    ({"body": {"regex": "Operational"}}, observe(), True, None),
    ({"body": {"regex": "Outage"}}, observe(), False, None),
    ({"body": {"length": {"min": 1}}}, observe(body=b""), False, ""),
]


@pytest.mark.parametrize(("spec", "observation", "passed", "actual"), CASES)
def test_condition_outcome_and_actual_value(spec, observation, passed, actual):
    result = compile_condition(spec).evaluate(observation)
    assert result.passed is passed
    if actual is not None:
        assert result.actual == actual
    assert (result.error_class is None) is passed


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ({"status": 200}, "status == 200"),
        ({"status": "2xx"}, "status in 2xx"),
        ({"response_time": "800ms"}, "response_time <= 800ms"),
        ({"tls_days_left": 14}, "tls_days_left >= 14"),
        ({"json": "$.status.indicator", "equals": "none"}, "$.status.indicator == 'none'"),
        ({"header": "Content-Type", "regex": "json"}, "header Content-Type ~ /json/"),
        ({"name": "statuspage says fine", "json": "$.status.indicator", "equals": "none"}, "statuspage says fine"),
    ],
)
def test_each_condition_is_named_for_reports(spec, name):
    assert compile_condition(spec).name == name


def test_error_classes_tell_what_kind_of_failure_it_was():
    failing = observe(status=503, latency=900.0, tls_days_left=2.0)
    assert compile_condition({"status": 200}).evaluate(failing).error_class == "http_status"
    assert compile_condition({"response_time": "500ms"}).evaluate(failing).error_class == "latency"
    assert compile_condition({"tls_days_left": 14}).evaluate(failing).error_class == "tls"
    assert compile_condition({"json": "$.ok", "equals": False}).evaluate(failing).error_class == "condition"
    not_json = observe(body=b"oops")
    assert compile_condition({"json": "$.ok", "exists": True}).evaluate(not_json).error_class == "body"


@pytest.mark.parametrize(
    ("spec", "field", "expected"),
    [
        ({"status": 200, "json": "$.a"}, None, "exactly one of status"),
        ({"equals": 1}, None, "exactly one of status"),
        ({"status": "abc"}, "status", "a status code"),
        ({"status": 99}, "status", "a status code"),
        ({"json": "$.[[", "equals": 1}, "json", "a JSONPath"),
        ({"json": "$.a"}, None, "at least one operator"),
        ({"json": "$.a", "includes": "x"}, "includes", "an operator for json"),
        ({"json": "$.a", "regex": "("}, "regex", "a valid regular expression"),
        ({"json": "$.a", "in": []}, "in", "a non-empty list"),
        ({"json": "$.a", "lt": "ten"}, "lt", "a number"),
        ({"json": "$.a", "length": -1}, "length", "a count"),
        ({"header": "Bad Header", "exists": True}, "header", "an HTTP header name"),
        ({"response_time": "fast"}, "response_time", "a duration"),
        ({"tls_days_left": "soon"}, "tls_days_left", "a number"),
        ({"body": "Operational"}, "body", "a mapping of operators"),
        ({"body": {"lt": 3}}, "lt", "an operator for body"),
    ],
)
def test_bad_conditions_name_the_key_and_the_expected_form(spec, field, expected):
    with pytest.raises(ConditionSpecError) as raised:
        compile_condition(spec)
    assert raised.value.field == field
    assert expected in raised.value.expected
