"""``type: grpc``: the standard health check (``grpc.health.v1.Health/Check``). grpcio's asyncio channel and
the health stub of grpcio-health-checking are the client."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import StrictStr, model_validator

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.auth import EnvName, secret
from monitoring_pipeline.integrations.probes.common import (
    CLIENT_TLS_NOT_FROM_DEFAULTS,
    Answer,
    NetworkIntegration,
    OptionalTls,
    ProbeContext,
    ProbeFailure,
    redact,
)


class GrpcIntegration(NetworkIntegration):
    """A gRPC server: UP when its health service answers SERVING for ``service``."""

    type: Literal["grpc"] = "grpc"
    service: StrictStr = ""  # "" asks about the server as a whole
    token_env: EnvName | None = None  # sent as `authorization: Bearer <token>` metadata
    tls: OptionalTls = None

    NOT_FROM_DEFAULTS: ClassVar[tuple[str, ...]] = CLIENT_TLS_NOT_FROM_DEFAULTS
    FIELDS: ClassVar[tuple[str, ...] | None] = ("status",)
    DEFAULT_CONDITIONS: ClassVar[tuple[dict[str, Any], ...]] = ({"field": "status", "equals": "SERVING"},)
    KIND: ClassVar[str] = "grpc"

    @model_validator(mode="after")
    def _verifiable_tls(self) -> GrpcIntegration:
        if self.tls is not None and not self.tls.verify:
            raise expected("tls with verify: true (gRPC's TLS always verifies; give ca_file for a private CA)",
                           "verify: false", field="tls.verify")
        return self

    @property
    def target(self) -> str:
        scheme = "grpcs" if self.tls else "grpc"
        return f"{scheme}://{self.address}/{self.service}"


# Status codes of a failed call and the error class each means.
_CLASS_BY_CODE = {
    "UNAVAILABLE": "connect",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "UNIMPLEMENTED": "protocol",
}


async def probe(integration: GrpcIntegration, context: ProbeContext) -> Answer:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    token = secret(integration.token_env, header=True) if integration.token_env else None
    tls = integration.tls
    if tls is None:
        channel = grpc.aio.insecure_channel(integration.address)
    else:
        roots = tls.ca_file.read_bytes() if tls.ca_file else None
        options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
        channel = grpc.aio.secure_channel(integration.address, grpc.ssl_channel_credentials(roots), options=options)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        response = await stub.Check(health_pb2.HealthCheckRequest(service=integration.service),
                                    timeout=integration.timeout, metadata=metadata, wait_for_ready=False)
    except grpc.aio.AioRpcError as error:
        code = error.code().name
        details = redact(error.details() or "", token)
        if code == "NOT_FOUND":
            raise ProbeFailure("server", f"the health service knows no service {integration.service!r}") from None
        error_class = _CLASS_BY_CODE.get(code, "server")
        if code == "UNAVAILABLE" and ("ssl" in details.lower() or "handshake" in details.lower()):
            error_class = "tls"
        raise ProbeFailure(error_class, f"{code}: {details}") from None
    finally:
        await channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    return Answer(fields={"status": status})
