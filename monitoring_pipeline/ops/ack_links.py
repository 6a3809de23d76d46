"""One-click acknowledgement links: HMAC-signed, expiring, single-use tokens for ``/ack/{token}``.

A token is ``v1.<payload>.<signature>`` (base64url): the payload names the alert, the expiry and a random id;
the signature is HMAC-SHA256 with the key in the environment variable the ops file names
(``acknowledgement.signing_key_env``, default ``OPS_ACK_SIGNING_KEY``). Nothing is stored when a link is made;
a used link's id goes to ``ops_ack_tokens`` in the same transaction as the acknowledgement, so it works once.

Opening the link (GET) shows the alert and one button; only the POST acknowledges, because mail scanners and
chat unfurlers open links on their own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from monitoring_pipeline.alerting.config import AlertingConfig
from monitoring_pipeline.alerting.dispatch import LinkBuilder
from monitoring_pipeline.alerting.store import FIRING, AlertRow
from monitoring_pipeline.ops import alert_reads
from monitoring_pipeline.ops.config import AcknowledgementConfig, OpsConfig
from monitoring_pipeline.settings import read_secret
from monitoring_pipeline.storage.schema import ops_ack_tokens

VERSION = "v1"
MIN_KEY_BYTES = 32
USED = "used"


class AckTokenError(ValueError):
    """A link that cannot be used; the message says why (never echoing the token)."""


class AckKeyError(ValueError):
    """The signing key is missing or too short."""


@dataclass(frozen=True)
class AckClaim:
    alert_id: int
    expires_at: datetime
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckSigner:
    """Makes and checks acknowledgement tokens with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise AckKeyError(f"the acknowledgement signing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def _signature(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())

    def issue(self, alert_id: int, now: datetime, ttl_seconds: float) -> str:
        payload = {"a": int(alert_id), "e": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
                   "n": secrets.token_hex(16)}
        signed = f"{VERSION}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{signed}.{self._signature(signed)}"

    def verify(self, token: str, now: datetime) -> AckClaim:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise AckTokenError("this is not an acknowledgement link (it may have been cut short)")
        signed = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(parts[2].encode(), self._signature(signed).encode()):
            raise AckTokenError("this link's signature does not match (altered, or signed with another key)")
        try:
            payload = json.loads(_unb64(parts[1]))
            claim = AckClaim(int(payload["a"]), datetime.fromtimestamp(int(payload["e"]), UTC), str(payload["n"]))
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise AckTokenError("this link's content cannot be read") from None
        if now >= claim.expires_at:
            raise AckTokenError(f"this link expired at {claim.expires_at.isoformat(timespec='minutes')}")
        return claim


def signer_from_config(config: AcknowledgementConfig) -> AckSigner:
    """The signer with the key from the environment; ``AckKeyError`` naming the variable when unusable."""
    key = read_secret(config.signing_key_env)
    if key is None:
        raise AckKeyError(f"acknowledgement links are off: {config.signing_key_env} is not set")
    try:
        return AckSigner(key.encode())
    except AckKeyError:
        raise AckKeyError(f"{config.signing_key_env} must hold at least {MIN_KEY_BYTES} bytes "
                          f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')") from None


def ack_url(public_url: str, token: str) -> str:
    """The link to put in a notification (``Alert.links["acknowledge"]``)."""
    return f"{public_url.rstrip('/')}/ack/{token}"


def alert_url(public_url: str, alert_id: int) -> str:
    """The alert's page on the ops service (``Alert.links["alert"]``)."""
    return f"{public_url.rstrip('/')}/alerts/{int(alert_id)}"


def acknowledge_link(config: OpsConfig, alert_id: int, now: datetime) -> str | None:
    """The one-click link for ``Alert.links["acknowledge"]``, or None when links are off (no ``service.public_url``
    or no signing key)."""
    if not config.service.public_url:
        return None
    try:
        signer = signer_from_config(config.acknowledgement)
    except AckKeyError:
        return None
    return ack_url(config.service.public_url, signer.issue(alert_id, now, config.acknowledgement.ttl))


def notification_links(config: OpsConfig, clock: Callable[[], datetime] | None = None) -> LinkBuilder | None:
    """What the alert engine calls for each alert of a notification it decides: the alert's page and, while it
    fires, a signed acknowledgement link. None without ``service.public_url`` (no address to link to); without a
    signing key only the page is linked. The key is read at each call, so setting it needs no restart."""
    public_url = config.service.public_url
    if not public_url:
        return None
    now = clock or (lambda: datetime.now(UTC))

    def links(row: AlertRow) -> Mapping[str, str]:
        found = {"alert": alert_url(public_url, row.id)}
        if row.state == FIRING:
            link = acknowledge_link(config, row.id, now())
            if link:
                found["acknowledge"] = link
        return found

    return links


def was_used(engine: Engine, claim: AckClaim) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(select(ops_ack_tokens.c.used_at)
                                  .where(ops_ack_tokens.c.token_id == claim.token_id)).scalar_one_or_none()


def acknowledge(engine: Engine, claim: AckClaim, by: str, now: datetime, *, config: AlertingConfig | None = None,
                links: LinkBuilder | None = None) -> str:
    """Acknowledge the claim's alert once: the engine's outcome (``alert_reads.AckOutcome``), or ``used``.

    The link is consumed only when the engine recorded something (acknowledged, already acknowledged, resolved),
    in the same transaction; while alerting is unavailable it stays usable.
    """
    try:
        with engine.begin() as connection:
            if connection.execute(select(ops_ack_tokens.c.token_id)
                                  .where(ops_ack_tokens.c.token_id == claim.token_id)).first() is not None:
                return USED
            outcome = alert_reads.acknowledge_alert(connection, claim.alert_id, by, "acknowledged from a link", now,
                                                    config=config, links=links)
            if outcome in ("acknowledged", "already_acknowledged", "resolved"):
                connection.execute(insert(ops_ack_tokens).values(token_id=claim.token_id, alert_id=claim.alert_id,
                                                                 used_at=now, outcome=outcome))
    except IntegrityError:  # the same link, clicked twice at once: the other click used it
        return USED
    return outcome
