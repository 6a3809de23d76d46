"""``type: nats``: connect (and log in), optionally a request/reply round trip: to a service of yours
(``request``) or through a responder of the probe's own (``round_trip``). nats-py is the client (the NATS
project's own), with reconnection off: a probe connects once."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, StrictStr, model_validator

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.auth import EnvName
from monitoring_pipeline.integrations.config import _Model
from monitoring_pipeline.integrations.probes.common import (
    CLIENT_TLS_NOT_FROM_DEFAULTS,
    Answer,
    NetworkIntegration,
    OptionalTls,
    Port,
    ProbeContext,
    ProbeFailure,
    describe,
    optional_secret,
    redact,
    true_means_defaults,
)

DEFAULT_SUBJECT = "monitoring_pipeline.probe"


class NatsRequest(_Model):
    subject: StrictStr  # a subject a service answers on
    data: StrictStr = ""  # the request's payload (UTF-8)


class NatsRoundTrip(_Model):
    subject: StrictStr = DEFAULT_SUBJECT  # the probe answers on <subject>.<random> and requests it



class NatsIntegration(NetworkIntegration):
    """A NATS server: UP when it accepts the connection (and the request or round trip gets its reply)."""

    type: Literal["nats"] = "nats"
    port: Port = 4222
    user: StrictStr | None = None
    password_env: EnvName | None = None
    token_env: EnvName | None = None  # token authentication instead of user and password
    request: NatsRequest | None = None
    round_trip: Annotated[NatsRoundTrip | None, BeforeValidator(true_means_defaults)] = None
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = ("server_version", "reply", "round_trip_ms")
    KIND: ClassVar[str] = "nats"

    @model_validator(mode="after")
    def _one_login_and_one_exchange(self) -> NatsIntegration:
        if self.token_env and (self.user or self.password_env):
            raise expected("token_env, or user with password_env, not both", "both", field="token_env")
        if self.request is not None and self.round_trip is not None:
            raise expected("request or round_trip, not both", "both", field="round_trip")
        return self


async def _offers_tls(integration: NatsIntegration) -> bool:
    """Whether the server's INFO line offers TLS. nats-py upgrades only when the server requires it and would
    otherwise log in over plain text, so a probe told to use TLS reads INFO first."""
    reader, writer = await asyncio.open_connection(integration.host, integration.port)
    try:
        line = await reader.readline()
    finally:
        writer.close()
    if not line.startswith(b"INFO "):
        raise ProbeFailure("protocol", "the server did not start with INFO: not a NATS server")
    try:
        info = json.loads(line[5:])
    except ValueError:
        raise ProbeFailure("protocol", "the server's INFO is not JSON") from None
    return bool(info.get("tls_required") or info.get("tls_available"))


class _ConnectFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def probe(integration: NatsIntegration, context: ProbeContext) -> Answer:
    import nats
    import nats.errors

    password = optional_secret(integration.password_env)
    token = optional_secret(integration.token_env)
    connecting = True

    async def first_failure_ends_the_connect(error: BaseException) -> None:
        # nats-py retries a failed first connect forever (whatever max_reconnect_attempts says): a probe connects
        # once, so the first failure ends it. Errors after connecting are the calls' own.
        if connecting:
            raise _ConnectFailed(error)

    tls = integration.tls
    if tls is not None and not await _offers_tls(integration):
        raise ProbeFailure("tls", "the server offers no TLS (its INFO has neither tls_required nor tls_available)")
    try:
        client = await nats.connect(
            servers=[f"{'tls' if tls else 'nats'}://{integration.address}"], name="monitoring-pipeline-probe",
            user=integration.user, password=password, token=token, connect_timeout=integration.timeout,
            allow_reconnect=False, error_cb=first_failure_ends_the_connect,
            tls=context.ssl_context(tls) if tls is not None else None,
            tls_hostname=tls.server_name if tls is not None else None,
        )
    except (_ConnectFailed, nats.errors.Error) as error:
        cause = error.cause if isinstance(error, _ConnectFailed) else error
        if isinstance(cause, nats.errors.AuthorizationError) or "authoriz" in str(cause).lower():
            raise ProbeFailure("auth", redact(describe(cause), password, token)) from None
        if isinstance(cause, OSError):
            raise cause from None
        raise ProbeFailure("connect", redact(describe(cause), password, token)) from None
    connecting = False
    try:
        version = client.connected_server_version
        fields: dict[str, Any] = {"server_version": f"{version.major}.{version.minor}.{version.patch}"}
        started = time.perf_counter()
        if integration.request is not None:
            reply = await client.request(integration.request.subject, integration.request.data.encode(),
                                         timeout=integration.timeout)
            fields["reply"] = reply.data.decode("utf-8", errors="replace")
            fields["round_trip_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        elif integration.round_trip is not None:
            subject = f"{integration.round_trip.subject}.{secrets.token_hex(6)}"
            payload = secrets.token_hex(8).encode()

            async def answer(message: Any) -> None:
                await message.respond(message.data)

            await client.subscribe(subject, cb=answer)
            reply = await client.request(subject, payload, timeout=integration.timeout)
            if reply.data != payload:
                raise ProbeFailure("protocol", "the reply did not carry the payload sent")
            fields["round_trip_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    except nats.errors.NoRespondersError:
        raise ProbeFailure("server", f"no service answers on {integration.request.subject!r}"  # type: ignore[union-attr]
                           ) from None
    except nats.errors.TimeoutError:
        raise ProbeFailure("timeout", "no reply within the timeout") from None
    finally:
        await client.close()
    return Answer(fields=fields)
