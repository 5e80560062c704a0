"""SMS gateways: one small class per provider behind the :class:`SmsGateway` protocol.

The outbox (``notifications.services``) chooses a gateway by the provider name stored on the
row, so a message keeps the provider it was queued for even if the setting changes later.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from notifications.gateways.base import (
    PermanentSmsError,
    SendResult,
    SmsError,
    SmsGateway,
    TransientSmsError,
    UnknownSmsOutcomeError,
)
from notifications.gateways.console import ConsoleGateway
from notifications.gateways.memory import MemoryGateway
from notifications.gateways.twilio import TwilioGateway

__all__ = [
    "GATEWAYS",
    "PermanentSmsError",
    "SendResult",
    "SmsError",
    "SmsGateway",
    "TransientSmsError",
    "UnknownSmsOutcomeError",
    "get_gateway",
    "provider_for",
]

GATEWAYS: dict[str, Callable[[], SmsGateway]] = {
    ConsoleGateway.name: ConsoleGateway,
    MemoryGateway.name: MemoryGateway,
    TwilioGateway.name: TwilioGateway,
}


def get_gateway(name: str | None = None) -> SmsGateway:
    """Return the gateway called ``name``, or the one named by ``settings.SMS_PROVIDER``.

    Raises ``ImproperlyConfigured`` for a name no gateway answers to. Credentials are checked
    when a message is sent, not here, so an unconfigured provider still lists in the admin.
    """
    chosen = name or settings.SMS_PROVIDER
    try:
        factory = GATEWAYS[chosen]
    except KeyError:
        known = ", ".join(sorted(GATEWAYS))
        raise ImproperlyConfigured(
            f"Unknown SMS provider {chosen!r} (SMS_PROVIDER); expected one of: {known}"
        ) from None
    return factory()


def provider_for(*, to: str) -> str:
    """The provider a message to ``to`` is queued for.

    Today every number goes to ``settings.SMS_PROVIDER``. This is the one place that will
    route +86 numbers to Aliyun and the rest to Twilio (brief §0 rule 1).
    """
    return str(settings.SMS_PROVIDER)
