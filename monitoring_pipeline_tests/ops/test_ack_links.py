"""Acknowledgement links: signed, expiring, single use; the page never acknowledges on a GET."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from monitoring_pipeline.ops import ack_links, alert_reads
from monitoring_pipeline.ops.ack_links import AckKeyError, AckSigner, AckTokenError, ack_url, signer_from_config
from monitoring_pipeline.ops.config import AcknowledgementConfig
from monitoring_pipeline.storage.schema import ops_ack_tokens
from monitoring_pipeline_tests.ops.conftest import ACK_KEY

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_token_names_its_alert_until_it_expires():
    signer = AckSigner(ACK_KEY.encode())
    token = signer.issue(42, NOW, 3600)
    claim = signer.verify(token, NOW + timedelta(minutes=59))
    assert (claim.alert_id, claim.expires_at) == (42, NOW + timedelta(hours=1))
    with pytest.raises(AckTokenError, match="expired at 2026-12-04T13:00"):
        signer.verify(token, NOW + timedelta(hours=1))
    assert signer.issue(42, NOW, 3600) != token  # each link has its own id
    assert ack_url("https://status.example.com/", token) == f"https://status.example.com/ack/{token}"


def test_the_engine_gets_a_link_only_when_links_can_work(monkeypatch):
    from monitoring_pipeline.ops.ack_links import acknowledge_link
    from monitoring_pipeline.ops.config import OpsConfig

    config = OpsConfig.model_validate({"service": {"public_url": "https://status.example.com"}})
    monkeypatch.delenv("OPS_ACK_SIGNING_KEY", raising=False)
    assert acknowledge_link(config, 3, NOW) is None
    monkeypatch.setenv("OPS_ACK_SIGNING_KEY", ACK_KEY)
    link = acknowledge_link(config, 3, NOW)
    assert link.startswith("https://status.example.com/ack/v1.")
    assert AckSigner(ACK_KEY.encode()).verify(link.rsplit("/", 1)[1], NOW).alert_id == 3
    assert acknowledge_link(OpsConfig(), 3, NOW) is None  # no public address to link to


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # signature altered
    lambda t: t.split(".")[0] + ".eyJhIjo0MywiZSI6OTk5OTk5OTk5OSwibiI6IngifQ." + t.split(".")[2],  # payload swapped
    lambda t: t[: len(t) // 2],  # cut short by a mail client
    lambda t: "v2." + t[3:],
])
def test_an_altered_or_truncated_token_is_refused(mangle):
    signer = AckSigner(ACK_KEY.encode())
    with pytest.raises(AckTokenError):
        signer.verify(mangle(signer.issue(42, NOW, 3600)), NOW)


def test_another_key_does_not_verify():
    token = AckSigner(ACK_KEY.encode()).issue(7, NOW, 60)
    with pytest.raises(AckTokenError, match="signature"):
        AckSigner(b"z" * 32).verify(token, NOW)


def test_the_key_comes_from_the_environment_and_must_be_long(monkeypatch):
    monkeypatch.delenv("OPS_ACK_SIGNING_KEY", raising=False)
    with pytest.raises(AckKeyError, match="OPS_ACK_SIGNING_KEY is not set"):
        signer_from_config(AcknowledgementConfig())
    monkeypatch.setenv("OPS_ACK_SIGNING_KEY", "short-secret-value")
    with pytest.raises(AckKeyError) as error:
        signer_from_config(AcknowledgementConfig())
    assert "short-secret-value" not in str(error.value)


def test_a_link_is_consumed_once_when_the_engine_acknowledges(sqlite_engine, monkeypatch):
    outcomes = iter(["acknowledged"])
    # The engine's answer alone decides (test_alerts_wired.py acknowledges real alerts end to end).
    monkeypatch.setattr(alert_reads, "acknowledge_alert", lambda *args, **kwargs: next(outcomes))
    claim = AckSigner(ACK_KEY.encode()).verify(AckSigner(ACK_KEY.encode()).issue(5, NOW, 60), NOW)
    assert ack_links.acknowledge(sqlite_engine, claim, "link", NOW) == "acknowledged"
    assert ack_links.acknowledge(sqlite_engine, claim, "link", NOW) == ack_links.USED
    assert ack_links.was_used(sqlite_engine, claim) == NOW


def test_a_link_to_an_alert_that_does_not_exist_is_not_consumed(ops_server, engine):
    server = ops_server()
    token = AckSigner(ACK_KEY.encode()).issue(9, datetime.now(UTC), 600)
    page = httpx.get(f"{server.url}/ack/{token}")
    assert page.status_code == 200 and "Acknowledge alert 9?" in page.text and "<form method=\"post\">" in page.text
    answer = httpx.post(f"{server.url}/ack/{token}")
    assert answer.status_code == 404 and "does not exist" in answer.text
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(ops_ack_tokens)).scalar_one() == 0
    bad = httpx.get(f"{server.url}/ack/{token[:-4]}")
    assert bad.status_code == 400 and "signature" in bad.text and token not in bad.text
