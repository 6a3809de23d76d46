"""The probe types in the integrations file: each type's own fields are validated, every mistake names the file,
the field and the expected form, and defaults apply where a type has the field."""

from __future__ import annotations

import pytest
import yaml

from monitoring_pipeline.integrations.config import IntegrationConfigError, load_integrations
from monitoring_pipeline.integrations.probes import INTEGRATION_TYPES

ONE_OF_EACH = [
    {"name": "api", "url": "https://api.example.com/health"},
    {"name": "gateway", "type": "tcp", "host": "gw.internal", "port": 7000, "send": "PING\r\n", "expect": "^PONG"},
    {"name": "certificate", "type": "tls", "host": "api.example.com", "conditions": [{"tls_days_left": 14}]},
    {"name": "records", "type": "dns", "query": "api.example.com", "record": "aaaa", "resolver": "1.1.1.1"},
    {"name": "mail", "type": "smtp", "host": "mx.example.com", "port": 587, "starttls": True},
    {"name": "orders_db", "type": "postgresql", "host": "db.internal", "user": "monitor", "database": "orders",
     "password_env": "ORDERS_DB_PASSWORD", "tls": True},
    {"name": "legacy_db", "type": "mysql", "host": "10.0.0.5", "user": "monitor", "query": "SHOW STATUS"},
    {"name": "cache", "type": "redis", "host": "cache.internal", "conditions": [{"field": "role", "equals": "master"}]},
    {"name": "broker", "type": "amqp", "host": "mq.internal", "user": "monitor", "vhost": "orders",
     "password_env": "MQ_PASSWORD", "queue": "orders"},
    {"name": "telemetry", "type": "mqtt", "host": "mqtt.internal", "round_trip": True},
    {"name": "bus", "type": "nats", "host": "nats.internal", "token_env": "NATS_TOKEN"},
    {"name": "checkout_rpc", "type": "grpc", "host": "checkout.internal", "port": 50051, "service": "checkout"},
    {"name": "nightly_export", "type": "push", "token_env": "EXPORT_PING_TOKEN", "cron": "0 2 * * *",
     "timezone": "Europe/Berlin", "grace": "1h"},
]


def write(tmp_path, integrations, defaults=None):
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"category": "test", **(defaults or {})},
                                    "integrations": integrations}))
    return path


def test_one_integration_of_each_type_loads_with_what_it_shows(tmp_path):
    config = load_integrations(write(tmp_path, ONE_OF_EACH))
    by_name = config.by_name()
    assert {i.type for i in config.integrations} == set(INTEGRATION_TYPES)
    assert {name: i.target for name, i in by_name.items()} == {
        "api": "https://api.example.com/health",
        "gateway": "tcp://gw.internal:7000",
        "certificate": "tls://api.example.com:443",
        "records": "dns://1.1.1.1:53/api.example.com?type=AAAA",
        "mail": "smtp://mx.example.com:587",
        "orders_db": "postgresql://db.internal:5432/orders",
        "legacy_db": "mysql://10.0.0.5:3306/",
        "cache": "redis://cache.internal:6379",
        "broker": "amqps://mq.internal:5672/orders" if by_name["broker"].tls else "amqp://mq.internal:5672/orders",
        "telemetry": "mqtt://mqtt.internal:1883",
        "bus": "nats://nats.internal:4222",
        "checkout_rpc": "grpc://checkout.internal:50051/checkout",
        "nightly_export": "push: cron '0 2 * * *' Europe/Berlin (+1h grace)",
    }
    assert by_name["orders_db"].tls is not None and by_name["orders_db"].tls.verify
    assert by_name["telemetry"].round_trip.topic == "monitoring-pipeline/probe"
    assert by_name["nightly_export"].worst_case_seconds() == 0
    assert by_name["nightly_export"].thresholds.failure == 1  # the grace already absorbs lateness


def test_defaults_apply_where_the_type_has_the_field(tmp_path):
    defaults = {"timeout": "3s", "retries": {"attempts": 2}, "tls": {"verify": False}, "follow_redirects": True,
                "thresholds": {"failure": 2}}
    config = load_integrations(write(tmp_path, ONE_OF_EACH, defaults))
    by_name = config.by_name()
    assert by_name["api"].tls.verify is False and by_name["api"].follow_redirects
    assert by_name["cache"].timeout == 3 and by_name["cache"].tls is None  # a client's tls is said on each
    assert by_name["mail"].tls.verify is False  # SMTP's tls, like HTTP's, tunes what STARTTLS verifies
    assert by_name["nightly_export"].thresholds.failure == 2
    assert not hasattr(by_name["cache"], "follow_redirects")


@pytest.mark.parametrize(
    ("entry", "field", "expected"),
    [
        ({"type": "ftp", "host": "x"}, "type", "one of http, tcp, tls, dns"),
        ({"type": "tcp", "port": 22}, "host", "a value (this key is required)"),
        ({"type": "tcp", "host": "tcp://db:5432", "port": 22}, "host", "a host name or IP address"),
        ({"type": "tcp", "host": "db", "port": 70000}, "port", "an integer of at most 65535"),
        ({"type": "tcp", "host": "db", "port": 1, "send": "Grüße ✓"}, "send", "one-byte characters"),
        ({"type": "tcp", "host": "db", "port": 1, "expect": "(unclosed"}, "expect", "a valid regular expression"),
        ({"type": "redis", "host": "db", "password": "hunter2"}, "password", "password_env"),
        ({"type": "redis", "host": "db", "password_env": "hunter2"}, "password_env", "the NAME of an environment"),
        ({"type": "redis", "host": "db", "url": "https://x"}, "url", "a known integration key"),
        ({"type": "redis", "host": "db", "conditions": [{"status": 200}]}, "conditions[0]",
         "a condition a redis probe can test: field, response_time"),
        ({"type": "postgresql", "host": "db", "user": "u", "conditions": [{"field": "reslt", "equals": 1}]},
         "conditions[0].field", "one of the values a postgresql probe reports"),
        ({"type": "postgresql", "host": "db", "user": "u", "query": "DROP TABLE orders"}, "query",
         "one statement that reads"),
        ({"type": "mysql", "host": "db", "user": "u", "query": "SELECT 1; DELETE FROM t"}, "query",
         "one statement that reads"),
        ({"type": "dns", "query": "example.com", "record": "AXFR"}, "record", "one of A, AAAA, CNAME"),
        ({"type": "smtp", "host": "mx", "starttls": True, "implicit_tls": True}, "starttls", "not both"),
        ({"type": "nats", "host": "n", "user": "u", "token_env": "T"}, "token_env", "not both"),
        ({"type": "grpc", "host": "g", "port": 1, "tls": {"verify": False}}, "tls.verify", "always verifies"),
        ({"type": "push", "token_env": "T"}, "period", "either period"),
        ({"type": "push", "token_env": "T", "period": "1h", "cron": "0 * * * *"}, "period", "either period"),
        ({"type": "push", "token_env": "T", "cron": "every day"}, "cron", "a 5-field cron"),
        ({"type": "push", "token_env": "T", "period": "1h", "timeout": "5s"}, "timeout", "a known integration key"),
        ({"type": "push", "token_env": "T", "period": "1h", "token": "abc"}, "token", "token_env"),
    ],
)
def test_each_mistake_names_the_field_and_the_expected_form(tmp_path, entry, field, expected):
    path = write(tmp_path, [{"name": "svc", **entry}])
    with pytest.raises(IntegrationConfigError) as raised:
        load_integrations(path)
    assert raised.value.file == path
    assert raised.value.field == f"integrations[0] (svc).{field}"
    assert expected in raised.value.expected, raised.value.expected
    assert "hunter2" not in str(raised.value)


def test_the_shipped_example_of_every_type_loads():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config" / "integrations.example.yaml"
    config = load_integrations(example)
    assert {i.type for i in config.integrations} == set(INTEGRATION_TYPES)
    assert config.by_name()["orders_db_replica"].depends_on == ("orders_db",)


def test_the_demo_file_shows_probe_types_beyond_http():
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "config" / "integrations.demo.yaml"
    config = load_integrations(demo, environ={"SANDBOX_URL": "http://127.0.0.1:8766"})
    types = {i.name: i.type for i in config.integrations}
    assert {types["sandbox_port"], types["local_postgres"], types["local_redis"], types["nightly_export"]} == {
        "tcp", "postgresql", "redis", "push"}
    assert config.by_name()["sandbox_port"].port == 8766
