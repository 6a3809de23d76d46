"""Databases, caches and brokers probed for real: PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto and NATS, each
UP, then DOWN for each way it fails (a closed port, wrong credentials, a refused TLS, a listener that never
answers), with its error class, its reported values for conditions, and no secret in any result."""

from __future__ import annotations

import pytest

from monitoring_pipeline.integrations.runner import ProbeRunner
from monitoring_pipeline_tests.integrations.conftest import integrations

WRONG = "wrong-password-never-shown"


def probe(tmp_path, *entries):
    config = integrations(tmp_path, list(entries))
    return {r.integration: r for r in ProbeRunner(concurrency=20).run(list(config.integrations), 60)}


def assert_down(result, error_class, *words):
    assert (result.outcome, result.error_class) == ("failed", error_class), (result.error_class, result.error)
    for word in words:
        assert word in result.error


def test_postgresql_up_with_server_version_and_a_read_only_query(tmp_path, postgres_service):
    host, port = postgres_service.host, postgres_service.port
    results = probe(
        tmp_path,
        {"name": "pg", "type": "postgresql", "host": host, "port": port, "user": "postgres"},
        {"name": "primary", "type": "postgresql", "host": host, "port": port, "user": "postgres",
         "query": "SELECT pg_is_in_recovery()", "conditions": [{"field": "result", "equals": False}]},
        {"name": "writes", "type": "postgresql", "host": host, "port": port, "user": "postgres",
         "query": "WITH gone AS (DELETE FROM pg_catalog.pg_description WHERE false RETURNING 1) SELECT 1"},
        {"name": "replica", "type": "postgresql", "host": host, "port": port, "user": "postgres",
         "query": "SELECT pg_is_in_recovery()", "conditions": [{"field": "result", "equals": True}]},
    )
    assert results["pg"].outcome == "up" and results["pg"].latency_ms > 0
    assert results["primary"].outcome == "up"
    assert [(c.name, c.actual) for c in results["primary"].conditions] == [("result == False", "false")]
    # A statement that reads may still hide a write; the read-only transaction stops it.
    assert_down(results["writes"], "server", "query failed", "read-only transaction")
    assert_down(results["replica"], "condition", "result == True")


def test_postgresql_down(tmp_path, postgres_service, closed_port, silent_port):
    host = postgres_service.host
    results = probe(
        tmp_path,
        {"name": "closed", "type": "postgresql", "host": host, "port": closed_port, "user": "postgres"},
        {"name": "no_role", "type": "postgresql", "host": host, "user": "nobody_probes_here"},
        {"name": "no_database", "type": "postgresql", "host": host, "user": "postgres", "database": "no_such_db"},
        {"name": "tls_refused", "type": "postgresql", "host": host, "user": "postgres", "tls": {"verify": False}},
        {"name": "silent", "type": "postgresql", "host": host, "port": silent_port, "user": "postgres",
         "timeout": "1s"},
    )
    assert_down(results["closed"], "connect")
    assert_down(results["no_role"], "auth", "nobody_probes_here")
    assert_down(results["no_database"], "server", "no_such_db")
    assert_down(results["tls_refused"], "tls", "SSL")
    assert_down(results["silent"], "timeout", "1s")


def test_mariadb_up_and_down(tmp_path, mariadb_service, closed_port, silent_port, monkeypatch):
    monkeypatch.setenv("MARIADB_PROBE_PASSWORD", WRONG)
    host, port = mariadb_service.host, mariadb_service.port
    results = probe(
        tmp_path,
        {"name": "up", "type": "mysql", "host": host, "port": port, "user": "root",
         "conditions": [{"field": "server_version", "regex": "MariaDB"}, {"field": "result", "equals": 1}]},
        {"name": "writes", "type": "mysql", "host": host, "port": port, "user": "root", "database": "test",
         "query": "SELECT * FROM probe_no_such_table"},
        {"name": "closed", "type": "mysql", "host": host, "port": closed_port, "user": "root"},
        {"name": "wrong_password", "type": "mysql", "host": host, "port": port, "user": "root",
         "password_env": "MARIADB_PROBE_PASSWORD"},
        {"name": "tls_refused", "type": "mysql", "host": host, "port": port, "user": "root", "tls": True},
        {"name": "silent", "type": "mysql", "host": host, "port": silent_port, "user": "root", "timeout": "1s"},
    )
    assert results["up"].outcome == "up", results["up"].error
    assert all(c.passed for c in results["up"].conditions)
    assert_down(results["writes"], "server", "query failed", "probe_no_such_table")
    assert_down(results["closed"], "connect")
    assert_down(results["wrong_password"], "auth", "Access denied")
    assert_down(results["tls_refused"], "tls", "does not offer TLS")
    assert_down(results["silent"], "timeout")
    assert WRONG not in repr(results)


def test_redis_up_with_info_fields_and_down(tmp_path, redis_service, closed_port, silent_port, monkeypatch):
    monkeypatch.setenv("REDIS_PROBE_PASSWORD", redis_service.password)
    monkeypatch.setenv("REDIS_WRONG_PASSWORD", WRONG)
    host, port = redis_service.host, redis_service.port
    login = {"type": "redis", "host": host, "port": port, "password_env": "REDIS_PROBE_PASSWORD"}
    results = probe(
        tmp_path,
        {"name": "up", **login},
        {"name": "primary", **login, "conditions": [{"field": "role", "equals": "master"},
                                                    {"field": "connected_slaves", "ge": 0}]},
        {"name": "replica_expected", **login, "conditions": [{"field": "role", "equals": "slave"}]},
        {"name": "wrong_password", **login, "password_env": "REDIS_WRONG_PASSWORD"},
        {"name": "no_password", "type": "redis", "host": host, "port": port},
        {"name": "closed", **login, "port": closed_port},
        {"name": "silent", **login, "port": silent_port, "timeout": "1s"},
    )
    assert results["up"].outcome == "up" and results["up"].conditions == ()
    assert [(c.name, c.passed, c.actual) for c in results["primary"].conditions] == [
        ("role == 'master'", True, "master"), ("connected_slaves >= 0", True, "0")]
    assert_down(results["replica_expected"], "condition", "role == 'slave'", "master")
    assert_down(results["wrong_password"], "auth")
    assert_down(results["no_password"], "auth")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")
    assert WRONG not in repr(results) and redis_service.password not in repr(results)


def test_rabbitmq_up_with_queue_depth_and_down(tmp_path, rabbitmq_service, closed_port, silent_port, monkeypatch):
    monkeypatch.setenv("RABBITMQ_PROBE_PASSWORD", rabbitmq_service.password)
    monkeypatch.setenv("RABBITMQ_WRONG_PASSWORD", WRONG)
    queue = f"probe_test_{tmp_path.name[-12:]}"
    _declare_queue(rabbitmq_service, queue, messages=3)
    login = {"type": "amqp", "host": rabbitmq_service.host, "port": rabbitmq_service.port, "user": "guest",
             "password_env": "RABBITMQ_PROBE_PASSWORD"}
    try:
        results = probe(
            tmp_path,
            {"name": "up", **login, "conditions": [{"field": "product", "equals": "RabbitMQ"}]},
            {"name": "queue", **login, "queue": queue, "conditions": [{"field": "queue_messages", "lt": 1000}]},
            {"name": "backlog", **login, "queue": queue, "conditions": [{"field": "queue_messages", "lt": 2}]},
            {"name": "no_queue", **login, "queue": "no_such_queue_for_probes"},
            {"name": "no_vhost", **login, "vhost": "no_such_vhost"},
            {"name": "wrong_password", **login, "password_env": "RABBITMQ_WRONG_PASSWORD"},
            {"name": "tls_refused", **login, "tls": {"verify": False}},
            {"name": "closed", **login, "port": closed_port},
            {"name": "silent", **login, "port": silent_port, "timeout": "1s"},
        )
    finally:
        _delete_queue(rabbitmq_service, queue)
    assert results["up"].outcome == "up", results["up"].error
    assert results["queue"].outcome == "up" and results["queue"].conditions[0].actual == "3"
    assert_down(results["backlog"], "condition", "queue_messages < 2", "3")
    assert_down(results["no_queue"], "server", "no_such_queue_for_probes")
    assert_down(results["no_vhost"], "server", "no_such_vhost")
    assert_down(results["wrong_password"], "auth", "ACCESS_REFUSED")
    assert_down(results["tls_refused"], "tls")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")
    assert WRONG not in repr(results)


def test_mqtt_up_with_a_round_trip_and_down(tmp_path, mqtt_service, closed_port, silent_port, monkeypatch):
    monkeypatch.setenv("MQTT_PROBE_PASSWORD", mqtt_service.password)
    monkeypatch.setenv("MQTT_WRONG_PASSWORD", WRONG)
    login = {"type": "mqtt", "host": mqtt_service.host, "port": mqtt_service.port, "username": "probe",
             "password_env": "MQTT_PROBE_PASSWORD"}
    results = probe(
        tmp_path,
        {"name": "up", **login},
        {"name": "round_trip", **login, "round_trip": {"topic": "probes/test", "qos": 1},
         "conditions": [{"field": "round_trip_ms", "lt": 2000}]},
        {"name": "wrong_password", **login, "password_env": "MQTT_WRONG_PASSWORD"},
        {"name": "anonymous", "type": "mqtt", "host": mqtt_service.host, "port": mqtt_service.port},
        {"name": "tls_refused", **login, "tls": {"verify": False}},
        {"name": "closed", **login, "port": closed_port},
        {"name": "silent", **login, "port": silent_port, "timeout": "1s"},
    )
    assert results["up"].outcome == "up", results["up"].error
    assert results["round_trip"].outcome == "up" and results["round_trip"].conditions[0].passed
    assert_down(results["wrong_password"], "auth", "Not authorized")
    assert_down(results["anonymous"], "auth")
    assert_down(results["tls_refused"], "tls")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")
    assert WRONG not in repr(results) and mqtt_service.password not in repr(results)


def test_nats_up_with_request_reply_and_down(tmp_path, nats_service, closed_port, silent_port, monkeypatch):
    monkeypatch.setenv("NATS_PROBE_PASSWORD", nats_service.password)
    monkeypatch.setenv("NATS_WRONG_PASSWORD", WRONG)
    login = {"type": "nats", "host": nats_service.host, "port": nats_service.port, "user": "probe",
             "password_env": "NATS_PROBE_PASSWORD"}
    results = probe(
        tmp_path,
        {"name": "up", **login, "conditions": [{"field": "server_version", "regex": r"^\d+\.\d+"}]},
        {"name": "round_trip", **login, "round_trip": True},
        {"name": "no_responder", **login, "request": {"subject": "orders.health", "data": "ping"}},
        {"name": "wrong_password", **login, "password_env": "NATS_WRONG_PASSWORD"},
        {"name": "tls_refused", **login, "tls": True},
        {"name": "closed", **login, "port": closed_port},
        {"name": "silent", **login, "port": silent_port, "timeout": "1s"},
    )
    assert results["up"].outcome == "up", results["up"].error
    assert results["round_trip"].outcome == "up", results["round_trip"].error
    assert_down(results["no_responder"], "server", "orders.health")
    assert_down(results["wrong_password"], "auth", "Authorization")
    assert_down(results["tls_refused"], "tls", "offers no TLS")
    assert_down(results["closed"], "connect")
    assert_down(results["silent"], "timeout")
    assert WRONG not in repr(results) and nats_service.password not in repr(results)


@pytest.mark.usefixtures("nats_service")
def test_nats_request_reply_to_a_real_responder(tmp_path, nats_service, monkeypatch):
    import asyncio

    import nats

    monkeypatch.setenv("NATS_PROBE_PASSWORD", nats_service.password)
    config = integrations(tmp_path, [{
        "name": "orders", "type": "nats", "host": nats_service.host, "port": nats_service.port, "user": "probe",
        "password_env": "NATS_PROBE_PASSWORD", "request": {"subject": "orders.health", "data": "ping"},
        "conditions": [{"field": "reply", "equals": "pong:ping"}]}])

    async def serve_and_probe():
        responder = await nats.connect(f"nats://{nats_service.host}:{nats_service.port}", user="probe",
                                       password=nats_service.password)

        async def answer(message):
            await message.respond(b"pong:" + message.data)

        await responder.subscribe("orders.health", cb=answer)
        await responder.flush()
        try:
            return await ProbeRunner().run_async(list(config.integrations), asyncio.get_running_loop().time() + 60)
        finally:
            await responder.close()

    (result,) = asyncio.run(serve_and_probe())
    assert result.outcome == "up", result.error
    assert result.conditions[0].actual == "pong:ping"


def _declare_queue(service, queue, messages):
    import asyncio

    import aiormq

    async def declare():
        connection = await aiormq.connect(f"amqp://{service.user}:{service.password}@{service.host}:{service.port}/")
        channel = await connection.channel()
        await channel.queue_declare(queue, auto_delete=False)
        for n in range(messages):
            await channel.basic_publish(f"message {n}".encode(), routing_key=queue)
        await connection.close()

    asyncio.run(declare())


def _delete_queue(service, queue):
    import asyncio

    import aiormq

    async def delete():
        connection = await aiormq.connect(f"amqp://{service.user}:{service.password}@{service.host}:{service.port}/")
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await connection.close()

    asyncio.run(delete())
