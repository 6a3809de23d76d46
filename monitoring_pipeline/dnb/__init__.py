"""D&B Direct+ Monitoring: client, auth, rate limiting, models. No Dagster imports (the emulator is in fakes/)."""

from monitoring_pipeline.dnb.client import DnbClient, PullDrain
from monitoring_pipeline.dnb.errors import (
    DnbApiError,
    DnbAuthError,
    DnbCircuitOpenError,
    DnbError,
    DnbMalformedResponseError,
    DnbNotFoundError,
    DnbRateLimitError,
    DnbRequestError,
    DnbResponseLostError,
    DnbServerError,
    DnbTransportError,
)
from monitoring_pipeline.dnb.factory import DnbConnectionSettings, build_client
from monitoring_pipeline.dnb.keys import notification_key
from monitoring_pipeline.dnb.models import Notification, NotificationPage, validate_notification

__all__ = [
    "DnbApiError",
    "DnbAuthError",
    "DnbCircuitOpenError",
    "DnbClient",
    "DnbConnectionSettings",
    "DnbError",
    "DnbMalformedResponseError",
    "DnbNotFoundError",
    "DnbRateLimitError",
    "DnbRequestError",
    "DnbResponseLostError",
    "DnbServerError",
    "DnbTransportError",
    "Notification",
    "NotificationPage",
    "PullDrain",
    "build_client",
    "notification_key",
    "validate_notification",
]
