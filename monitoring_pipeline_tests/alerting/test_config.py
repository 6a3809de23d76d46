"""The alerting file: the shipped files are valid, and a bad one is refused naming the file, the field and the
expected form."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitoring_pipeline.alerting.config import AlertingConfigError, load_alerting
from monitoring_pipeline.alerting.dispatch import Dispatcher, receivers_for

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", ["alerting.yaml", "alerting.example.yaml", "alerting.demo.yaml"])
def test_shipped_files_are_valid(name):
    config = load_alerting(CONFIG_DIR / name)
    assert config.enabled_rules


def test_no_file_means_the_default_rules_and_no_receiver(tmp_path):
    config = load_alerting(tmp_path / "absent.yaml")
    assert {"integration_down", "asset_check_failed", "dnb_company_out_of_business", "receiver_failing",
            "sla_fast_burn", "dnb_notification_volume_anomaly"} <= {r.name for r in config.rules}
    assert config.receivers == {} and config.route.receiver is None


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "alerting.yaml"
    path.write_text(textwrap.dedent(text))
    return load_alerting(path)


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("route: {receiver: pager}\nreceivers: [{name: ops}]\n", "route.receiver",
     "a receiver defined under receivers (ops)"),
    ("route: {receiver: ops, routes: [{receiver: opz}]}\nreceivers: [{name: ops}]\n", "route.routes[0].receiver",
     "(did you mean 'ops'?)"),
    ("escalation_policies: [{name: p, levels: [{receivers: [boss]}]}]\n", "escalation_policies[0] (p).levels[0]"
     ".receivers[0]", "a receiver defined under receivers"),
    ("route: {receiver: ops, routes: [{matchers: ['integration=~\"(stripe\"'], receiver: ops}]}\n"
     "receivers: [{name: ops}]\n", "route.routes[0].matchers[0]", "a valid regular expression"),
    ("route: {receiver: ops, routes: [{matchers: ['integration stripe'], receiver: ops}]}\n"
     "receivers: [{name: ops}]\n", "route.routes[0].matchers[0]", "a matcher such as"),
    ("route: &r {receiver: ops, routes: [*r]}\nreceivers: [{name: ops}]\n", "route.routes[0]",
     "a tree of routes (a route cannot contain itself)"),
    ("default_rules: false\nrules: [{name: down, source: integration_state, annotations: "
     "{summary: '{{ labels.integraton }} is down'}}]\n", "rules[0] (down).annotations.summary",
     "labels here: alertname, category, group, integration, severity, source"),
    ("default_rules: false\nrules: [{name: down, source: integration_state, annotations: "
     "{summary: '{{ labels.integration'}}]\n", "rules[0] (down).annotations.summary", "Jinja2"),
    ("default_rules: false\nrules: [{name: x, source: integration_stat}]\n", "rules[0] (x).source",
     "did you mean 'integration_state'?"),
    ("default_rules: false\nrules: [{name: x, source: threshold, metric: cpu, threshold: 1}]\n",
     "rules[0] (x).metric", "one of integration_error_rate"),
    ("default_rules: false\nrules: [{name: x, source: integration_state, for: soon}]\n", "rules[0] (x).for",
     "a duration such as 500ms"),
    ("default_rules: false\nrules: [{name: x, source: dnb_event}]\n", "rules[0] (x).types",
     "types or elements"),
    ("default_rules: false\nrules: [{name: x, source: dnb_event, types: [DELETED]}]\n", "rules[0] (x).types[0]",
     "D&B notification types"),
    ("default_rules: false\nrules: [{name: x, source: integration_state, labels: {severity: high}}]\n",
     "rules[0] (x).labels.severity", "the engine sets those"),
    ("route: {receiver: ops, mute_time_intervals: [nights]}\nreceivers: [{name: ops}]\n",
     "route.mute_time_intervals[0]", "a name defined under time_intervals"),
    ("time_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]\n",
     "time_intervals[0] (t).time_intervals[0].weekdays", "weekday names"),
    ("time_intervals: [{name: t, time_intervals: [{times: [{start_time: '17:00', end_time: '09:00'}]}]}]\n",
     "time_intervals[0] (t).time_intervals[0].times[0]", "an end_time after the start_time"),
    ("rules: [{name: integration_down, for: forever}]\n", "rules[0] (integration_down).for", "a duration"),
    ("route: {group_by: [alertname, ...]}\n", "route.group_by", "either '...' alone"),
    ("recievers: []\n", "recievers", "did you mean 'receivers'?"),
])
def test_bad_configuration_is_refused_with_file_field_and_expected_form(tmp_path, text, field, expected):
    with pytest.raises(AlertingConfigError) as raised:
        _load(tmp_path, text)
    message = str(raised.value)
    assert message.startswith("alerting.yaml: " if Path.cwd() == tmp_path else str(tmp_path)) or "alerting.yaml" in \
        message
    assert f": {field}: " in message, message
    assert expected in message, message


def test_a_default_rule_is_tuned_or_turned_off_by_name(tmp_path):
    config = _load(tmp_path, """
        rules:
          - {name: dnb_company_renamed, enabled: false}
          - {name: integration_down, severity: error, keep_firing_for: 5m}
    """)
    assert config.rule("dnb_company_renamed").enabled is False
    down = config.rule("integration_down")
    assert (down.severity, down.keep_firing_for, down.states) == ("error", 300.0, ("DOWN",))


def test_routes_follow_alertmanager_semantics(tmp_path):
    config = _load(tmp_path, """
        route:
          receiver: default
          group_by: [alertname]
          routes:
            - matchers: ['severity="critical"']
              receiver: pager
              continue: true
            - matchers: ['team="payments"']
              receiver: payments
              routes:
                - matchers: ['integration=~"stripe|adyen"']
                  receiver: psp
            - matchers: ['team="payments"']
              receiver: never            # the sibling above took it and does not continue
        escalation_policies:
          - {name: crit, severities: [critical], levels: [{after: 10m, receivers: [boss]}]}
        receivers: [{name: default}, {name: pager}, {name: payments}, {name: psp}, {name: never}, {name: boss}]
    """)
    dispatcher = Dispatcher(config)

    def reach(**labels):
        severity = labels.get("severity", "warning")
        return [names for _, names in receivers_for(dispatcher, labels, severity)]

    assert reach(severity="critical", team="payments", integration="stripe") == [["pager", "boss"], ["psp", "boss"]]
    assert reach(team="payments", integration="paypal") == [["payments"]]
    assert reach(team="payments", integration="stripe_eu") == [["payments"]]  # regexes match whole values
    assert reach(team="search") == [["default"]]
