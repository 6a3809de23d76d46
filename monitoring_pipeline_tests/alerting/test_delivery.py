"""The delivery step over the outbox, on SQLite and PostgreSQL, against a recording receiver: every channel gets each
notification once, every attempt is logged, retries honour Retry-After, a group's notifications keep their order, a
permanent failure breaks and holds the receiver until its configuration changes or a test succeeds, concurrent
processes never send a row twice, and no secret is recorded anywhere."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from monitoring_pipeline.alerting.delivery import DeliverySettings, Pacer, deliver_due, send_test
from monitoring_pipeline.fakes.inbox import Reply
from monitoring_pipeline.retry import Backoff
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    AT,
    ROUTING_KEY,
    SECRETS,
    SLACK_TOKEN,
    TWILIO_TOKEN,
    channel_configs,
    enqueue_all,
    everything_recorded,
    group,
    health,
    log_rows,
    outbox_rows,
    receiver,
    recording,  # noqa: F401 - fixture
    secrets_env,  # noqa: F401 - fixture
)

NOW = AT + timedelta(seconds=1)
FAST = DeliverySettings(backoff=Backoff(initial_seconds=10, max_seconds=60, jitter=False))


def ops(base_url: str, *types: str, **overrides: object):  # type: ignore[no-untyped-def]
    configs = channel_configs(base_url, **overrides)
    return receiver("ops", *({**configs[t], "name": t} for t in types))


def deliver(engine, receivers, now=NOW, **kwargs):  # type: ignore[no-untyped-def]
    return deliver_due(engine, receivers, now=now, budget_seconds=10, settings=kwargs.pop("settings", FAST),
                       pacer=Pacer(), **kwargs)


def test_each_notification_reaches_every_channel_once_and_every_attempt_is_logged(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "slack", "webhook", "pagerduty")
    enqueue_all(engine, group("trigger"), group("trigger", group_key="g2"))
    report = deliver(engine, [config])
    assert (report.delivered, report.attempts) == (2, 6)
    assert len(secrets_env.received("/slack/")) == len(secrets_env.received("/webhook/")) == 2
    assert [r.status for r in outbox_rows(engine)] == ["delivered", "delivered"]
    entries = log_rows(engine)
    assert sorted((e.channel, e.outcome, e.attempt, e.status_code) for e in entries) == sorted(
        [("slack", "delivered", 1, 200), ("webhook", "delivered", 1, 200), ("pagerduty", "delivered", 1, 200)] * 2)
    assert all(e.latency_ms is not None and e.receiver == "ops" and e.kind == "trigger" for e in entries)
    assert deliver(engine, [config]).attempts == 0  # nothing is sent twice
    assert health(engine)["ops"].state == "ok"


def test_retry_after_is_honoured_and_only_the_failed_channel_is_retried(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "slack", "webhook")
    secrets_env.script("/slack/", Reply(429, "rate_limited", {"Retry-After": "30"}))
    enqueue_all(engine, group("trigger"))
    report = deliver(engine, [config])
    assert (report.retried, report.delivered) == (1, 0)
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts, row.due_at) == ("pending", 1, NOW + timedelta(seconds=30))
    assert row.last_error == "slack: 429 rate_limited"
    assert deliver(engine, [config], now=NOW + timedelta(seconds=29)).attempts == 0  # not due yet
    report = deliver(engine, [config], now=NOW + timedelta(seconds=31))
    assert (report.delivered, report.attempts) == (1, 1)
    assert len(secrets_env.received("/webhook/")) == 1 and len(secrets_env.received("/slack/")) == 2
    assert sorted((e.channel, e.attempt, e.outcome) for e in log_rows(engine)) == [
        ("slack", 1, "retry"), ("slack", 2, "delivered"), ("webhook", 1, "delivered")]


def test_backoff_grows_without_retry_after(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook")
    secrets_env.script("/webhook/", Reply(503), Reply(503), Reply(503))
    enqueue_all(engine, group("trigger"))
    moment, waits = NOW, []
    for _ in range(3):
        deliver(engine, [config], now=moment)
        [row] = outbox_rows(engine)
        waits.append((row.due_at - moment).total_seconds())
        moment = row.due_at
    assert waits == [10.0, 20.0, 40.0]  # the project's backoff (jitter off in this test)
    assert deliver(engine, [config], now=moment).delivered == 1


def test_a_groups_notifications_go_out_in_the_order_they_were_decided(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "pagerduty")
    secrets_env.script("/pagerduty/", Reply(500))
    enqueue_all(engine, group("trigger"), group("acknowledgement"), group("resolution"))
    deliver(engine, [config])
    assert [r.status for r in outbox_rows(engine)] == ["pending", "pending", "pending"]
    later = NOW + timedelta(minutes=5)
    for _ in range(3):
        deliver(engine, [config], now=later)
    actions = [r.json()["event_action"] for r in secrets_env.received("/pagerduty/")]
    assert actions == ["trigger", "trigger", "acknowledge", "resolve"]  # a resolve never overtakes its trigger


def test_a_permanent_failure_breaks_the_receiver_and_holds_until_the_configuration_changes(
        engine, secrets_env, monkeypatch, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    config = ops(secrets_env.url, "slack")
    secrets_env.default("/slack/services/T000", Reply(404, "channel_not_found"))
    enqueue_all(engine, group("trigger"), group("trigger", group_key="g2"))
    report = deliver(engine, [config])
    assert report.broken == ["ops"] and report.held >= 1
    status = health(engine)["ops"]
    assert status.state == "broken" and status.reason == "slack (slack): 404 channel_not_found"
    assert [r.status for r in outbox_rows(engine)] == ["held", "held"]
    enqueue_all(engine, group("resolution"))
    assert deliver(engine, [config]).attempts == 0  # held: nothing is tried while broken
    assert [r.status for r in outbox_rows(engine)] == ["held", "held", "held"]
    # The operator fixes the webhook URL in the environment: the configuration's hash changes.
    monkeypatch.setenv("SLACK_OPS_URL", f"{secrets_env.url}/slack/services/NEW/{SECRETS[0]}")
    for _ in range(2):
        deliver(engine, [config])
    assert [r.status for r in outbox_rows(engine)] == ["delivered"] * 3
    assert health(engine)["ops"].state == "ok"
    texts = [r.json()["text"] for r in secrets_env.received("/slack/services/NEW/")]
    assert texts[-1].startswith("[RESOLVED")
    recorded = everything_recorded(engine) + caplog.text
    assert not any(secret in recorded for secret in SECRETS)


def test_a_successful_test_releases_what_a_broken_receiver_held(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook")
    secrets_env.script("/webhook/", Reply(410, "gone"))
    enqueue_all(engine, group("trigger"))
    deliver(engine, [config])
    assert health(engine)["ops"].state == "broken"
    result = send_test(engine, config, now=NOW, settings=FAST)
    assert result.ok and [(a.channel, a.outcome) for a in result.attempts] == [("webhook", "delivered")]
    assert health(engine)["ops"].state == "ok"
    assert deliver(engine, [config]).delivered == 1
    bodies = [r.json()["monitoringPipeline"]["kind"] for r in secrets_env.received("/webhook/")]
    assert bodies == ["trigger", "test", "trigger"]


def test_a_failing_test_reports_each_channel(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "slack", "webhook")
    secrets_env.script("/webhook/", Reply(503, "unavailable"))
    result = send_test(engine, config, now=NOW, settings=FAST)
    assert not result.ok and result.status == "failed"
    assert sorted((a.channel, a.outcome, a.status_code) for a in result.attempts) == [
        ("slack", "delivered", 200), ("webhook", "retry", 503)]
    assert [r.status for r in outbox_rows(engine)] == ["failed"]  # a test does not linger in the outbox


def test_retryable_failures_report_the_receiver_broken_without_holding(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook")
    secrets_env.default("/webhook/", Reply(502, "bad gateway"))
    enqueue_all(engine, *(group("trigger", group_key=f"g{i}") for i in range(3)))
    report = deliver(engine, [config])
    assert report.retried == 3 and report.broken == ["ops"]
    assert health(engine)["ops"].reason == "webhook (webhook): 502 bad gateway"
    assert {r.status for r in outbox_rows(engine)} == {"pending"}  # still retried, not held
    secrets_env.default("/webhook/", Reply(200))
    report = deliver(engine, [config], now=NOW + timedelta(minutes=5))
    assert report.delivered == 3 and report.recovered == ["ops"]


def test_retries_give_up_after_a_day(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook")
    secrets_env.default("/webhook/", Reply(503))
    enqueue_all(engine, group("trigger"))
    deliver(engine, [config])
    report = deliver(engine, [config], now=AT + timedelta(hours=24, seconds=1))
    assert report.failed == 1
    [row] = outbox_rows(engine)
    assert row.status == "failed" and row.last_error.startswith("gave up after 1 day")
    assert [e.outcome for e in log_rows(engine)] == ["retry", "failed"]


def test_notifications_for_an_unknown_receiver_wait_until_it_is_configured(engine, secrets_env):  # noqa: F811
    enqueue_all(engine, group("trigger", receiver="later"))
    deliver(engine, [ops(secrets_env.url, "slack")])
    [row] = outbox_rows(engine)
    assert row.status == "held" and "not in the alerting configuration" in row.last_error
    assert health(engine)["later"].state == "broken"
    later = ops(secrets_env.url, "webhook").model_copy(update={"name": "later"})
    for _ in range(2):
        deliver(engine, [later])
    assert outbox_rows(engine)[0].status == "delivered"


def test_an_unreadable_row_fails_alone(engine, secrets_env):  # noqa: F811
    from sqlalchemy import update

    from monitoring_pipeline.storage.schema import alert_outbox

    enqueue_all(engine, group("trigger"), group("trigger", group_key="g2"))
    with engine.begin() as connection:
        connection.execute(update(alert_outbox).where(alert_outbox.c.group_key == "g2").values(payload="{not json"))
    report = deliver(engine, [ops(secrets_env.url, "slack")])
    assert (report.delivered, report.failed) == (1, 1)
    assert [r.status for r in outbox_rows(engine)] == ["delivered", "failed"]


def test_a_budget_that_runs_out_loses_nothing(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook", rate_limit_per_second=2.0)  # 0.5 s apart: two fit in a 1 s budget
    enqueue_all(engine, *(group("trigger", group_key=f"g{i}") for i in range(4)))
    report = deliver_due(engine, [config], now=NOW, budget_seconds=1.0, settings=FAST, pacer=Pacer())
    assert report.deferred >= 1 and report.delivered + report.deferred == 4  # however slow the machine: nothing lost
    assert all(r.leased_until is None for r in outbox_rows(engine))
    while any(r.status == "pending" for r in outbox_rows(engine)):
        deliver(engine, [config])
    assert len(secrets_env.received("/webhook/")) == 4


def test_concurrent_delivery_sends_each_row_once(engine, secrets_env):  # noqa: F811
    config = ops(secrets_env.url, "webhook")
    enqueue_all(engine, *(group("trigger", group_key=f"g{i}") for i in range(60)))
    settings = replace(FAST, batch_size=7, concurrency=4)
    threads = [threading.Thread(target=deliver_due, args=(engine, [config]),
                                kwargs={"now": NOW, "budget_seconds": 20, "settings": settings, "pacer": Pacer()})
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [r.headers["idempotency-key"] for r in secrets_env.received("/webhook/")]
    assert len(keys) == 60 and len(set(keys)) == 60
    assert {r.status for r in outbox_rows(engine)} == {"delivered"}
    assert len(log_rows(engine)) == 60


def test_pacer_spaces_sends_to_one_target():
    clock = [100.0]
    pacer = Pacer(clock=lambda: clock[0])

    async def take(latest: float) -> bool:
        return await pacer.acquire("slack:x", 1.0, latest)

    assert asyncio.run(take(100.0))
    assert not asyncio.run(take(100.5))  # the next slot (101) is after the latest start allowed
    pacer.pause("slack:x", 30)  # Retry-After: 30
    assert not asyncio.run(take(120.0))
    clock[0] = 131.0
    assert asyncio.run(take(131.0))


@pytest.mark.parametrize("channel_type", ["slack", "discord", "teams", "pagerduty", "twilio_sms", "webhook"])
def test_no_secret_is_recorded_when_a_channel_fails(engine, secrets_env, caplog, channel_type):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    path = {"twilio_sms": "/twilio/"}.get(channel_type, f"/{channel_type}/")
    own = {"pagerduty": ROUTING_KEY, "twilio_sms": TWILIO_TOKEN}.get(channel_type, SLACK_TOKEN)
    # A remote that echoes the channel's secret (part of the URL, the key) in its error.
    secrets_env.default(path, Reply(404, f"unknown hook {own} at {secrets_env.url}/x/{own}"))
    enqueue_all(engine, group("trigger"))
    deliver(engine, [ops(secrets_env.url, channel_type)])
    recorded = everything_recorded(engine) + caplog.text
    assert "404" in recorded
    assert not any(secret in recorded for secret in SECRETS)
