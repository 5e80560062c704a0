"""SMS gateways: one small class per provider behind the :class:`SmsGateway` protocol.

The outbox (``notifications.services``) chooses a gateway by the provider name stored on the
row, so a message keeps the provider it was queued for even if the setting changes later.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from notifications.gateways.aliyun import AliyunGateway
from notifications.gateways.base import (
    LookupResult,
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
    "LookupResult",
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
    AliyunGateway.name: AliyunGateway,
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

    +86 (mainland) numbers go to Aliyun when ``ALIYUN_SMS_ACCESS_KEY_ID`` is set (Twilio cannot
    do two-way SMS in China and throttles it, brief §0 rule 1); everything else to
    ``settings.SMS_PROVIDER``.
    """
    if to.startswith("+86") and settings.ALIYUN_SMS_ACCESS_KEY_ID:
        return AliyunGateway.name
    return str(settings.SMS_PROVIDER)
