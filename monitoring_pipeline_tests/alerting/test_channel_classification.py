"""Each channel's retry classification, against a real HTTP receiver answering as scripted: what is delivered, what is
retried (and when, from Retry-After or the body), what is a permanent failure; hangs and refused connections; and
that no answer, error or URL we record carries a secret."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monitoring_pipeline.alerting.channels.base import SendContext, SendResult, redact
from monitoring_pipeline.fakes.inbox import Reply
from monitoring_pipeline.httpserver import free_port
from monitoring_pipeline_tests.alerting.delivery_fixtures import (
    SECRETS,
    SENT_AT,
    channel_configs,
    group,
    receiver,
    recording,  # noqa: F401 - fixture
    secrets_env,  # noqa: F401 - fixture
)

PATHS = {"slack": "/slack/", "discord": "/discord/", "teams": "/teams/", "pagerduty": "/pagerduty/",
         "twilio_sms": "/twilio/", "webhook": "/webhook/", "alertmanager": "/am/"}
JSON = {"content-type": "application/json"}

# (channel, reply, outcome, retry_after, pause_for)
TABLE = [
    ("slack", Reply(200, "ok"), "delivered", None, None),
    ("slack", Reply(400, "invalid_blocks"), "failed", None, None),
    ("slack", Reply(403, "invalid_token"), "failed", None, None),
    ("slack", Reply(404, "channel_not_found"), "failed", None, None),
    ("slack", Reply(410, "channel_is_archived"), "failed", None, None),
    ("slack", Reply(429, "rate_limited", {"Retry-After": "7"}), "retry", 7.0, None),
    ("slack", Reply(500, "rollup_error"), "retry", None, None),
    ("slack", Reply(503, "service unavailable"), "retry", None, None),
    ("discord", Reply(200, '{"id": "1"}', JSON), "delivered", None, None),
    ("discord", Reply(204, ""), "delivered", None, None),
    ("discord", Reply(200, "{}", {**JSON, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5"}),
     "delivered", None, 1.5),
    ("discord", Reply(429, '{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}',
                      {**JSON, "Retry-After": "3"}), "retry", 2.5, None),
    ("discord", Reply(400, '{"code": 50006, "message": "Cannot send an empty message"}', JSON), "failed", None, None),
    ("discord", Reply(401, '{"code": 50027, "message": "Invalid Webhook Token"}', JSON), "failed", None, None),
    ("discord", Reply(404, '{"code": 10015, "message": "Unknown Webhook"}', JSON), "failed", None, None),
    ("discord", Reply(502, "bad gateway"), "retry", None, None),
    ("teams", Reply(202, ""), "delivered", None, None),
    ("teams", Reply(200, "1"), "delivered", None, None),
    ("teams", Reply(400, "Bad payload"), "failed", None, None),
    ("teams", Reply(404, "Workflow not found"), "failed", None, None),
    ("teams", Reply(429, "Too many requests", {"Retry-After": "4"}), "retry", 4.0, None),
    ("teams", Reply(500, "error"), "retry", None, None),
    ("pagerduty", Reply(202, '{"status": "success", "message": "Event processed", "dedup_key": "k"}', JSON),
     "delivered", None, None),
    ("pagerduty", Reply(400, '{"status": "invalid event", "message": "Event object is invalid", '
                             '"errors": ["Invalid routing key"]}', JSON), "failed", None, None),
    ("pagerduty", Reply(429, "", {"Retry-After": "30"}), "retry", 30.0, None),
    ("pagerduty", Reply(500, "internal"), "retry", None, None),
    ("pagerduty", Reply(503, "unavailable"), "retry", None, None),
    ("twilio_sms", Reply(201, '{"sid": "SM1", "status": "queued"}', JSON), "delivered", None, None),
    ("twilio_sms", Reply(400, '{"code": 21211, "message": "The \'To\' number is not a valid phone number.", '
                              '"status": 400}', JSON), "failed", None, None),
    ("twilio_sms", Reply(400, '{"code": 21610, "message": "Attempt to send to unsubscribed recipient"}', JSON),
     "failed", None, None),
    ("twilio_sms", Reply(401, '{"code": 20003, "message": "Authenticate"}', JSON), "failed", None, None),
    ("twilio_sms", Reply(429, '{"code": 20429, "message": "Too Many Requests"}', {**JSON, "Retry-After": "2"}),
     "retry", 2.0, None),
    ("twilio_sms", Reply(400, '{"code": 30001, "message": "Queue overflow"}', JSON), "retry", None, None),
    ("twilio_sms", Reply(503, "unavailable"), "retry", None, None),
    ("webhook", Reply(200, "ok"), "delivered", None, None),
    ("webhook", Reply(204, ""), "delivered", None, None),
    ("webhook", Reply(400, "bad request"), "failed", None, None),
    ("webhook", Reply(404, "not found"), "failed", None, None),
    ("webhook", Reply(408, "timeout"), "retry", None, None),
    ("webhook", Reply(429, "slow down", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), "retry", 0.0, None),
    ("webhook", Reply(500, "oops"), "retry", None, None),
    ("alertmanager", Reply(200, ""), "delivered", None, None),
    ("alertmanager", Reply(400, '{"code": 400, "message": "bad alert"}', JSON), "failed", None, None),
    ("alertmanager", Reply(503, "not ready"), "retry", None, None),
]


def send(channel_type: str, base_url: str, **overrides: object) -> SendResult:
    channel = receiver("ops", {**channel_configs(base_url, **overrides)[channel_type], "name": channel_type}) \
        .build_channels()[0]

    async def once() -> SendResult:
        async with httpx.AsyncClient() as client:
            return await channel.send(group("trigger"), SendContext(now=SENT_AT, receiver="ops"), client)

    return asyncio.run(once())


@pytest.mark.parametrize(("channel_type", "reply", "outcome", "retry_after", "pause_for"), TABLE,
                         ids=[f"{row[0]}-{row[1].status}-{i}" for i, row in enumerate(TABLE)])
def test_classification(secrets_env, channel_type, reply, outcome, retry_after, pause_for):  # noqa: F811
    secrets_env.script(PATHS[channel_type], reply)
    result = send(channel_type, secrets_env.url)
    assert (result.outcome, result.status_code) == (outcome, reply.status)
    assert result.retry_after == retry_after
    assert result.pause_for == pause_for
    assert len(secrets_env.received(PATHS[channel_type])) == 1
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert not any(secret in result.detail for secret in SECRETS)


@pytest.mark.parametrize("channel_type", list(PATHS))
def test_a_hanging_receiver_is_retried(secrets_env, channel_type):  # noqa: F811
    secrets_env.script(PATHS[channel_type], Reply(hang=True))
    result = send(channel_type, secrets_env.url, timeout_seconds=0.3)
    assert result.outcome == "retry" and result.status_code is None
    assert "no answer within 0.3s" in result.detail


@pytest.mark.parametrize("channel_type", list(PATHS))
def test_a_refused_connection_is_retried_and_names_no_secret(secrets_env, monkeypatch, channel_type):  # noqa: F811
    closed = f"http://127.0.0.1:{free_port()}"
    for variable in ("SLACK_OPS_URL", "DISCORD_OPS_URL", "TEAMS_OPS_URL", "WEBHOOK_URL"):
        monkeypatch.setenv(variable, f"{closed}/hook/{SECRETS[0]}?token={SECRETS[0]}")
    result = send(channel_type, closed)
    assert result.outcome == "retry"
    assert not any(secret in result.detail for secret in SECRETS)


def test_a_secret_echoed_by_the_remote_is_redacted(secrets_env):  # noqa: F811
    secrets_env.script("/slack/", Reply(404, f"no such hook: {secrets_env.url}/slack/services/{SECRETS[0]}"))
    result = send("slack", secrets_env.url)
    assert result.outcome == "failed"
    assert SECRETS[0] not in result.detail and "[redacted]" in result.detail


def test_an_unset_secret_is_a_permanent_failure_naming_the_variable(secrets_env, monkeypatch):  # noqa: F811
    monkeypatch.delenv("PD_ROUTING_KEY")
    result = send("pagerduty", secrets_env.url)
    assert (result.outcome, result.detail) == ("failed", "environment variable PD_ROUTING_KEY is not set")
    assert secrets_env.received() == []


def test_redact_cuts_urls_to_their_host():
    text = "POST https://hooks.slack.com/services/T0/B0/abc failed; key=k3y"
    assert redact(text, ["k3y"]) == "POST https://hooks.slack.com/[redacted] failed; key=[redacted]"


def test_requests_carry_what_each_remote_needs(secrets_env):  # noqa: F811
    for channel_type in PATHS:
        send(channel_type, secrets_env.url)
    twilio = secrets_env.received("/twilio/")[0]
    assert twilio.path.endswith("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json")
    assert twilio.headers["authorization"].startswith("Basic ")
    assert twilio.form()["To"] == "+15005550006" and twilio.form()["From"] == "+15005550001"
    assert secrets_env.received("/discord/")[0].query == "wait=true"
    assert secrets_env.received("/pagerduty/")[0].path == "/pagerduty/v2/enqueue"
    assert secrets_env.received("/am/")[0].path == "/am/api/v2/alerts"
    hook = secrets_env.received("/webhook/")[0]
    assert hook.headers["idempotency-key"] == group("trigger").idempotency_key
    assert hook.headers["x-webhook-signature"].startswith("sha256=")
    for request in secrets_env.received():
        assert request.headers.get("user-agent", "").startswith("monitoring-pipeline-alerting")
