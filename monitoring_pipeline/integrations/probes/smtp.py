"""``type: smtp``: the greeting, EHLO and, if asked, STARTTLS; reports the banner, the extensions, whether
STARTTLS is offered and the certificate. aiosmtplib is the client (asyncio-native; the standard library's
smtplib blocks a thread per probe, which a pass of hundreds cannot afford)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import StrictBool, StrictStr, model_validator

from monitoring_pipeline.config_errors import expected
from monitoring_pipeline.integrations.config import Tls
from monitoring_pipeline.integrations.probes.common import (
    Answer,
    NetworkIntegration,
    Port,
    ProbeContext,
    ProbeFailure,
    certificate_facts,
)


class SmtpIntegration(NetworkIntegration):
    """A mail server: UP when it greets with 220 and answers EHLO (and, with ``starttls``, upgrades to TLS)."""

    type: Literal["smtp"] = "smtp"
    port: Port = 25
    starttls: StrictBool = False  # upgrade with STARTTLS and check the certificate
    implicit_tls: StrictBool = False  # TLS from the first byte (SMTPS, port 465)
    ehlo_name: StrictStr = "monitoring-pipeline.invalid"  # the name we greet with
    tls: Tls = Tls()

    CONDITION_SUBJECTS: ClassVar[tuple[str, ...]] = ("field", "response_time", "tls_days_left")
    FIELDS: ClassVar[tuple[str, ...] | None] = ("code", "banner", "extensions", "starttls_offered", "protocol",
                                                "days_left", "issuer", "subject", "names", "hostname_match")
    KIND: ClassVar[str] = "smtp"

    @model_validator(mode="after")
    def _one_tls_kind(self) -> SmtpIntegration:
        if self.starttls and self.implicit_tls:
            raise expected("starttls or implicit_tls, not both", "both", field="starttls")
        return self


async def probe(integration: SmtpIntegration, context: ProbeContext) -> Answer:
    import aiosmtplib

    tls_context = context.ssl_context(integration.tls)
    client = aiosmtplib.SMTP(hostname=integration.host, port=integration.port, timeout=None,
                             use_tls=integration.implicit_tls, start_tls=False, tls_context=tls_context,
                             local_hostname=integration.ehlo_name)
    try:
        greeting = await client.connect()
        await client.ehlo()
        fields: dict[str, Any] = {
            "code": greeting.code,
            "banner": greeting.message,
            "extensions": sorted(client.esmtp_extensions),
            "starttls_offered": client.supports_extension("starttls"),
        }
        if integration.starttls:
            if not fields["starttls_offered"]:
                raise ProbeFailure("tls", "STARTTLS is not offered in the EHLO answer")
            await client.starttls(tls_context=tls_context, server_hostname=integration.host)
        ssl_object = client.get_transport_info("ssl_object")
        if ssl_object is not None:
            fields.update(certificate_facts(ssl_object.getpeercert(binary_form=True), context.now(), integration.host))
            fields["protocol"] = ssl_object.version()
        await client.quit()
    except aiosmtplib.SMTPConnectResponseError as error:
        raise ProbeFailure("server", f"the server greeted with {error.code}: {error.message}") from None
    except aiosmtplib.SMTPResponseException as error:
        raise ProbeFailure("server", f"the server answered {error.code}: {error.message}") from None
    except aiosmtplib.SMTPConnectError as error:
        raise ProbeFailure("connect", str(error)) from None
    except aiosmtplib.SMTPServerDisconnected as error:
        raise ProbeFailure("protocol", f"the server closed the connection: {error}") from None
    finally:
        client.close()
    return Answer(fields=fields, tls_days_left=fields.get("days_left"))
