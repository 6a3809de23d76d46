"""The Dagster resource gives the alert engine the ops service's links (the ops file's public address and signing
key): every notification it decides links each alert's page and, while it fires, a one-click acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from monitoring_pipeline.defs.alerting.resources import AlertingResource
from monitoring_pipeline.ops.ack_links import AckSigner

KEY = "k" * 40


def test_links_come_from_the_ops_file(tmp_path, sqlite_engine, monkeypatch):
    ops = tmp_path / "ops.yaml"
    ops.write_text("service:\n  public_url: https://status.example.com/\n")
    monkeypatch.setenv("OPS_ACK_SIGNING_KEY", KEY)
    links = AlertingResource(path=str(tmp_path / "alerting.yaml"), ops_config_path=str(ops)
                             ).engine(sqlite_engine).dispatcher.links
    firing = links(SimpleNamespace(id=5, state="firing"))
    assert firing["alert"] == "https://status.example.com/alerts/5"
    token = firing["acknowledge"].removeprefix("https://status.example.com/ack/")
    assert AckSigner(KEY.encode()).verify(token, datetime.now(UTC)).alert_id == 5
    assert links(SimpleNamespace(id=5, state="acknowledged")) == {"alert": "https://status.example.com/alerts/5"}
    monkeypatch.delenv("OPS_ACK_SIGNING_KEY")
    assert links(SimpleNamespace(id=5, state="firing")) == {"alert": "https://status.example.com/alerts/5"}


def test_without_a_public_address_there_are_no_links(tmp_path, sqlite_engine):
    assert AlertingResource(path=str(tmp_path / "alerting.yaml")).engine(sqlite_engine).dispatcher.links is None
