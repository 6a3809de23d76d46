"""Acceptance tests modelled on Alertmanager's: alerts pushed at virtual times, notification batches expected within
time windows at the recording receiver (the outbox). Grouping and its three intervals, inhibition, silences, time
intervals, escalation and acknowledgement, flapping, resolved notices."""

from __future__ import annotations

import pytest

from monitoring_pipeline.alerting.actions import acknowledge
from monitoring_pipeline.alerting.silences import create_silence
from monitoring_pipeline.storage.schema import alert_receiver_status
from monitoring_pipeline_tests.alerting.harness import Acceptance, between

DOWN_RULE = """
default_rules: false
rules:
  - name: down
    source: integration_state
    severity: critical
    annotations: {summary: "{{ labels.integration }} is down"}
"""
RECEIVERS = """
receivers: [{name: team}, {name: oncall}, {name: lead}, {name: manager}]
"""


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


def test_group_wait_gathers_alerts_and_group_interval_batches_changes(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_by: [alertname], group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""")
    at.integration(0, "stripe", "DOWN")
    at.integration(10, "paypal", "DOWN")  # within group_wait: the same first notification
    at.integration(100, "adyen", "DOWN")  # waits for the group's next flush (150), not its own group_wait
    at.integration(200, "stripe", "UP")
    at.integration(300, "paypal", "UP")
    at.integration(300, "adyen", "UP")
    at.run(until=500)
    at.want(between(30, 35), "team", "trigger", stripe="firing", paypal="firing")
    at.want(between(150, 155), "team", "trigger", stripe="firing", paypal="firing", adyen="firing")
    at.want(between(210, 215), "team", "trigger", stripe="resolved", paypal="firing", adyen="firing")
    at.want(between(330, 335), "team", "resolution", paypal="resolved", adyen="resolved")
    at.check()


def test_group_by_splits_groups_and_each_has_its_own_timers(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_by: [integration], group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""")
    at.integration(0, "stripe", "DOWN")
    at.integration(20, "paypal", "DOWN")
    at.run(until=100)
    at.want(between(30, 30), "team", "trigger", stripe="firing")
    at.want(between(50, 50), "team", "trigger", paypal="firing")
    received = at.check()
    assert received[0].notification.group_key != received[1].notification.group_key


def test_repeat_interval_reminds_until_acknowledged(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 5m}
acknowledgement: {timeout: null}
""")
    at.integration(0, "stripe", "DOWN")
    at.in_transaction(700, lambda c, now: acknowledge(c, 1, "alice", "looking", now))
    at.run(until=1500)
    at.want(between(30, 35), "team", "trigger", stripe="firing")
    at.want(between(330, 335), "team", "reminder", stripe="firing")
    at.want(between(630, 635), "team", "reminder", stripe="firing")
    at.want(between(700, 700), "team", "acknowledgement", stripe="acknowledged")
    at.check()  # no reminder after the acknowledgement


def test_inhibition_mutes_targets_with_equal_labels_while_the_source_fires(engine):
    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: check_failed, source: asset_check}
route: {receiver: team, group_by: [asset], group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
inhibit_rules:
  - source_matchers: ['check_name="reachable"']
    target_matchers: ['check_name!="reachable"']
    equal: [asset]
""" + RECEIVERS)
    at.asset_check(0, "a", "reachable", passed=False)
    at.asset_check(0, "a", "fresh", passed=False)
    at.asset_check(0, "b", "fresh", passed=False)  # another asset: not inhibited
    at.asset_check(200, "a", "reachable", passed=True)
    at.run(until=400)
    at.want(between(30, 35), "team", "trigger", a__reachable="firing")
    at.want(between(30, 35), "team", "trigger", b__fresh="firing")
    # reachable again: its resolution and the check it inhibited arrive together at the group's next flush.
    at.want(between(210, 215), "team", "trigger", a__reachable="resolved", a__fresh="firing")
    at.check()


def test_integration_dependencies_inhibit_their_dependants(engine, tmp_path):
    from monitoring_pipeline.integrations.config import load_integrations

    path = tmp_path / "integrations.yaml"
    path.write_text("integrations:\n"
                    "  - {name: aws, category: infra, url: 'http://127.0.0.1:9/aws'}\n"
                    "  - {name: sendgrid, category: mail, url: 'http://127.0.0.1:9/sg', depends_on: [aws]}\n")
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_by: [integration], group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""", integrations=load_integrations(path))
    at.integration(0, "aws", "DOWN")
    at.integration(10, "sendgrid", "DOWN")
    at.integration(300, "aws", "UP")
    at.run(until=420)
    at.want(between(30, 35), "team", "trigger", aws="firing")
    at.want(between(330, 335), "team", "resolution", aws="resolved")
    at.want(between(340, 345), "team", "trigger", sendgrid="firing")  # its own cause now: told at its next flush
    at.check()


def test_a_silence_mutes_while_in_force_and_what_fires_on_after_it_is_news(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""")
    at.in_transaction(0, lambda c, now: create_silence(c, ["integration=stripe"], now,
                                                        now.replace(second=0) + _seconds(200), "bob", "deploy", now))
    at.integration(5, "stripe", "DOWN")
    at.integration(5, "paypal", "DOWN")
    at.run(until=400)
    at.want(between(35, 40), "team", "trigger", paypal="firing")
    # The silence ended at 200 while stripe still fires: the next flush tells it.
    at.want(between(215, 220), "team", "trigger", paypal="firing", stripe="firing")
    at.check()


def test_an_alert_silenced_from_the_start_is_told_only_once_its_silence_expires(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""")
    at.in_transaction(0, lambda c, now: create_silence(c, ['integration=~"str.*"'], now, now + _seconds(200), "bob",
                                                        "maintenance", now))
    at.integration(5, "stripe", "DOWN")
    at.run(until=300)
    at.want(between(215, 220), "team", "trigger", stripe="firing")
    at.check()


def test_mute_time_intervals_hold_notifications_until_the_interval_ends(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route:
  receiver: team
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 1h
  mute_time_intervals: [lunch]
time_intervals:
  - name: lunch
    time_intervals: [{times: [{start_time: '09:00', end_time: '09:03'}], location: UTC}]
""")  # T0 is 09:00 UTC
    at.integration(0, "stripe", "DOWN")
    at.run(until=300)
    at.want(between(210, 215), "team", "trigger", stripe="firing")  # 09:03:30, the first flush after 09:03
    at.check()


def test_active_time_intervals_send_only_inside_them(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route:
  receiver: team
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: ['integration="stripe"']
      receiver: oncall
      active_time_intervals: [weekend]
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: ['saturday:sunday']}]
""")  # 2026-12-01 is a Tuesday
    at.integration(0, "stripe", "DOWN")
    at.integration(0, "paypal", "DOWN")
    at.run(until=200)
    at.want(between(30, 35), "team", "trigger", paypal="firing")
    at.check()


ESCALATION = DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 4h}
escalation_policies:
  - name: critical
    severities: [critical]
    levels:
      - {after: 0s, receivers: [oncall]}
      - {after: 15m, receivers: [lead]}
      - {after: 30m, receivers: [manager]}
    repeat: 1
    repeat_after: 10m
acknowledgement: {timeout: null}
"""


def test_escalation_reaches_each_level_on_time_repeats_and_everyone_told_hears_the_resolution(engine):
    at = Acceptance(engine, ESCALATION, step=10)
    at.integration(0, "stripe", "DOWN")
    at.integration(3500, "stripe", "UP")
    at.run(until=3700)
    at.want(between(30, 30), "team", "trigger", stripe="firing")
    at.want(between(30, 30), "oncall", "escalation", escalation_level=1, stripe="firing")
    at.want(between(930, 930), "lead", "escalation", escalation_level=2, stripe="firing")
    at.want(between(1830, 1830), "manager", "escalation", escalation_level=3, stripe="firing")
    # repeat once, 10 minutes after the last level
    at.want(between(2430, 2430), "oncall", "escalation", escalation_level=1, stripe="firing")
    at.want(between(3330, 3330), "lead", "escalation", escalation_level=2, stripe="firing")
    for receiver in ("team", "oncall", "lead", "manager"):
        at.want(between(3510, 3510), receiver, "resolution", stripe="resolved")
    at.check()


def test_acknowledgement_stops_escalation_and_tells_everyone_told(engine):
    at = Acceptance(engine, ESCALATION, step=10)
    at.integration(0, "stripe", "DOWN")
    at.in_transaction(1000, lambda c, now: acknowledge(c, 1, "alice", "on it", now))
    at.run(until=2500)
    at.want(between(30, 30), "team", "trigger", stripe="firing")
    at.want(between(30, 30), "oncall", "escalation", stripe="firing")
    at.want(between(930, 930), "lead", "escalation", stripe="firing")
    for receiver in ("team", "oncall", "lead"):
        at.want(between(1000, 1000), receiver, "acknowledgement", stripe="acknowledged")
    received = at.check()  # the manager (30 min) is never told
    acknowledgement = next(r for r in received if r.kind == "acknowledgement").notification.alerts[0]
    assert (acknowledgement.acknowledged_by, acknowledgement.acknowledgement_comment) == ("alice", "on it")


def test_a_lapsed_acknowledgement_reminds_and_escalates_again_from_the_first_level(engine):
    at = Acceptance(engine, ESCALATION.replace("acknowledgement: {timeout: null}", "acknowledgement: {timeout: 10m}"),
                    step=10)
    at.integration(0, "stripe", "DOWN")
    at.in_transaction(60, lambda c, now: acknowledge(c, 1, "alice", "", now))
    at.run(until=1600)
    at.want(between(30, 30), "team", "trigger", stripe="firing")
    at.want(between(30, 30), "oncall", "escalation", stripe="firing")
    at.want(between(60, 60), "team", "acknowledgement", stripe="acknowledged")
    at.want(between(60, 60), "oncall", "acknowledgement", stripe="acknowledged")
    at.want(between(660, 660), "team", "reminder", stripe="firing")
    at.want(between(660, 660), "oncall", "escalation", escalation_level=1, stripe="firing")
    at.want(between(1560, 1560), "lead", "escalation", escalation_level=2, stripe="firing")
    at.check()


def test_keep_firing_for_makes_a_flapping_integration_one_alert(engine):
    at = Acceptance(engine, DOWN_RULE.replace("severity: critical", "severity: critical\n    keep_firing_for: 2m")
                    + RECEIVERS + "route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 1h}")
    for start in (0, 60, 120):  # DOWN 15 s a minute, like the demo's twilio
        at.integration(start, "twilio", "DOWN")
        at.integration(start + 15, "twilio", "UP")
    at.run(until=400)
    at.want(between(30, 35), "team", "trigger", twilio="firing")
    at.want(between(270, 275), "team", "resolution", twilio="resolved")  # 135 + 2m, at the next flush
    at.check()
    with at.engine.connect() as connection:
        from monitoring_pipeline.alerting.queries import list_alerts
        assert len(list_alerts(connection, "all")) == 1


def test_without_keep_firing_for_every_flap_is_told(engine):
    at = Acceptance(engine, DOWN_RULE + RECEIVERS + """
route: {receiver: team, group_wait: 0s, group_interval: 10s, repeat_interval: 1h}
""")
    for start in (0, 60):
        at.integration(start, "twilio", "DOWN")
        at.integration(start + 15, "twilio", "UP")
    at.run(until=100)
    kinds = [r.kind for r in at.received()]
    assert kinds == ["trigger", "resolution", "trigger", "resolution"]


def test_for_keeps_a_short_blip_pending_and_fires_a_lasting_one(engine):
    at = Acceptance(engine, DOWN_RULE.replace("severity: critical", "severity: critical\n    for: 1m") + RECEIVERS
                    + "route: {receiver: team, group_wait: 30s, group_interval: 1m, repeat_interval: 1h}")
    at.integration(0, "stripe", "DOWN")
    at.integration(30, "stripe", "UP")  # shorter than for: never fires
    at.integration(100, "stripe", "DOWN")
    at.run(until=300)
    at.want(between(190, 195), "team", "trigger", stripe="firing")  # fires at 160, told after group_wait
    at.check()


def test_a_broken_receiver_is_reported_to_every_other_receiver_never_to_itself(engine):
    from datetime import UTC, datetime

    from monitoring_pipeline.storage.upsert import upsert

    at = Acceptance(engine, """
default_rules: false
rules:
  - {name: receiver_failing, source: receiver_health, severity: error,
     annotations: {summary: "receiver {{ labels.receiver }} is failing: {{ details.reason }}"}}
route: {receiver: oncall, group_wait: 30s, group_interval: 1m, repeat_interval: 1h}
""" + RECEIVERS)
    at.in_transaction(0, lambda c, now: upsert(c, alert_receiver_status, [{
        "receiver": "oncall", "state": "broken", "reason": "slack: 404 channel_not_found", "since": now,
        "consecutive_failures": 3, "last_failure_at": now, "last_success_at": None, "config_hash": None}],
        ("receiver",)))
    at.run(until=60)
    received = at.received()
    assert sorted(r.receiver for r in received) == ["lead", "manager", "team"]
    assert received[0].notification.alerts[0].summary == "receiver oncall is failing: slack: 404 channel_not_found"
    assert datetime.now(UTC)  # (the engine runs on the virtual clock only)


def _seconds(value: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=value)
