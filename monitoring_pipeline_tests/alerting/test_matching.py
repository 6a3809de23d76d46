"""Matchers, time intervals and muting with Alertmanager's semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring_pipeline.alerting.matchers import MatcherError, parse_matcher
from monitoring_pipeline.alerting.muting import (
    InhibitRule,
    MuteCandidate,
    Silence,
    compute_mutes,
    dependency_closure,
)
from monitoring_pipeline.alerting.timeintervals import TimeInterval, parse_ranges, parse_time_range


@pytest.mark.parametrize(("text", "labels", "matches"), [
    ('severity="critical"', {"severity": "critical"}, True),
    ("severity=critical", {"severity": "warning"}, False),
    ('team=""', {}, True),  # a missing label matches as ""
    ("team!=payments", {}, True),
    ('integration=~"stripe|paypal"', {"integration": "paypal"}, True),
    ('integration=~"stripe|paypal"', {"integration": "stripe_eu"}, False),  # anchored at both ends
    ('integration!~"str.*"', {"integration": "stripe"}, False),
    ("job =~ 'nightly_.*'", {"job": "nightly_export"}, True),
])
def test_matchers(text, labels, matches):
    assert parse_matcher(text).matches(labels) is matches


@pytest.mark.parametrize("text", ["severity", "=x", "1abc=x", 'a=~"("'])
def test_bad_matchers_are_refused(text):
    with pytest.raises(MatcherError):
        parse_matcher(text)


def test_time_intervals_in_their_time_zone():
    office = TimeInterval(times=(parse_time_range("09:00", "17:00"),), weekdays=parse_ranges(["monday:friday"],
                          "weekdays"), location="Europe/Berlin")
    assert office.contains(datetime(2026, 12, 1, 8, 30, tzinfo=UTC))  # 09:30 in Berlin, a Tuesday
    assert not office.contains(datetime(2026, 12, 1, 7, 30, tzinfo=UTC))  # 08:30 in Berlin
    assert not office.contains(datetime(2026, 12, 5, 10, 0, tzinfo=UTC))  # Saturday
    month_end = TimeInterval(days_of_month=parse_ranges(["-2:-1"], "days_of_month"))
    assert month_end.contains(datetime(2026, 2, 27, tzinfo=UTC)) and month_end.contains(datetime(2026, 2, 28,
                                                                                                 tzinfo=UTC))
    assert not month_end.contains(datetime(2026, 2, 26, tzinfo=UTC))


NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _alert(alert_id, firing=True, source="asset_check", **labels):  # type: ignore[no-untyped-def]
    return MuteCandidate(alert_id, labels, source, firing)


def test_silences_apply_between_their_times_and_say_who_and_why():
    alerts = [_alert(1, integration="stripe"), _alert(2, integration="paypal")]
    silence = Silence(7, (parse_matcher("integration=stripe"),), NOW - timedelta(minutes=1), NOW + timedelta(hours=1),
                      "bob", "deploy")
    mutes = compute_mutes(alerts, silences=[silence], inhibit_rules=[], now=NOW)
    assert mutes[1].silenced and mutes[1].reason == "silence 7 by bob: deploy"
    assert not mutes[2].silenced
    later = compute_mutes(alerts, silences=[silence], inhibit_rules=[], now=NOW + timedelta(hours=2))
    assert not later[1].silenced


def test_inhibition_needs_a_firing_source_with_equal_labels_and_never_inhibits_itself():
    rule = InhibitRule((parse_matcher("severity=critical"),), (parse_matcher("severity=~warning|critical"),),
                       ("cluster",))
    alerts = [
        _alert(1, severity="critical", cluster="a"),
        _alert(2, severity="warning", cluster="a"),
        _alert(3, severity="warning", cluster="b"),
        _alert(4, firing=False, severity="critical", cluster="b"),  # pending: inhibits nothing
        _alert(5, severity="warning"),  # no cluster...
        _alert(6, severity="critical"),  # ...nor here: missing on both counts as equal
    ]
    mutes = compute_mutes(alerts, silences=[], inhibit_rules=[rule], now=NOW)
    assert {i for i, m in mutes.items() if m.inhibited} == {2, 5}
    assert mutes[2].reason == "inhibited by alert 1 (inhibit_rules[0])"


def test_dependencies_inhibit_dependants_transitively():
    closure = dependency_closure({"sendgrid": ["aws"], "mailer": ["sendgrid"], "aws": []})
    assert closure["mailer"] == {"sendgrid", "aws"}
    alerts = [_alert(1, source="integration_state", integration="aws"), _alert(2, integration="mailer"),
              _alert(3, integration="stripe")]
    mutes = compute_mutes(alerts, silences=[], inhibit_rules=[], now=NOW, dependencies=closure)
    assert mutes[2].inhibited and "mailer depends on aws" in mutes[2].reason
    assert not mutes[1].inhibited and not mutes[3].inhibited


def test_maintenance_windows_mute_their_integrations_alerts():
    mutes = compute_mutes([_alert(1, integration="segment"), _alert(2, integration="stripe")], silences=[],
                          inhibit_rules=[], now=NOW, maintenance={"segment": "weekly upgrade"})
    assert mutes[1].silenced and mutes[1].reason == "maintenance window of segment: weekly upgrade"
    assert not mutes[2].silenced
