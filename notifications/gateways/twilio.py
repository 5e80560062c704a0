"""Twilio Programmable Messaging (``twilio`` v9), for numbers outside mainland China.

Credentials come from ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_FROM_NUMBER``;
missing ones fail the message at send time with a :class:`PermanentSmsError`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from notifications.gateways.base import (
    LookupResult,
    PermanentSmsError,
    SendResult,
    SmsError,
    TransientSmsError,
    UnknownSmsOutcomeError,
)

if TYPE_CHECKING:
    from notifications.models import SmsMessage

logger = logging.getLogger(__name__)

# Seconds to wait for Twilio; the SDK default is no timeout at all, which can hang a worker.
HTTP_TIMEOUT_S = 10.0

# Twilio error codes that mean "this number / this message will never go through" (brief §1.5).
PERMANENT_CODES = frozenset(
    {
        21211,  # invalid To number
        21408,  # geo permission for the region not enabled (config; alert ops)
        21610,  # recipient replied STOP
        21612,  # To/From pair cannot be routed
        21614,  # To is not SMS-capable (landline)
        21635,  # To is a landline
        30006,  # landline or unreachable carrier
    }
)
# "Never processed and always safe to retry" (Twilio error 20429).
TRANSIENT_CODES = frozenset({20429})


def error_from_twilio(exc: TwilioRestException) -> SmsError:
    """Classify a Twilio REST error: 429 and 5xx are transient, other refusals permanent."""
    code = exc.code
    # Use ``msg``: ``str(exc)`` adds ANSI colours when stderr is a terminal.
    message = f"Twilio HTTP {exc.status}: {exc.msg or 'no message'}"
    code_text = str(code) if code is not None else None
    if code in PERMANENT_CODES:
        return PermanentSmsError(message, code=code_text)
    if code in TRANSIENT_CODES or exc.status == 429 or exc.status >= 500:
        return TransientSmsError(message, code=code_text)
    return PermanentSmsError(message, code=code_text)


def error_from_http(exc: requests.RequestException) -> SmsError:
    """Classify a transport error by whether the request can have reached Twilio.

    Only failures to open the connection are safe to retry. A read timeout or a connection
    dropped after the request was written may have created the message: unknown outcome.
    """
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    before_send = isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError) or (
        isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError | ConnectTimeoutError)
    )
    message = f"Twilio request failed: {type(exc).__name__}: {exc}"
    if before_send:
        return TransientSmsError(message)
    return UnknownSmsOutcomeError(message)


# Messages the lookup reads: enough for one recipient's texts around one send.
LOOKUP_LIMIT = 50
# Twilio's DateSent filter is coarse: look from a little before our first attempt.
LOOKUP_SLACK = timedelta(minutes=5)


def _status_callback_url() -> str | None:
    """Our delivery-report URL when the public base URL is known (Twilio needs an absolute URL)."""
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "")
    if not base:
        return None
    try:
        return base.rstrip("/") + reverse("notifications:twilio_sms_status")
    except NoReverseMatch:
        return None


class TwilioGateway:
    name = "twilio"

    def _client(self) -> tuple[Client, str]:
        account_sid = settings.TWILIO_ACCOUNT_SID
        auth_token = settings.TWILIO_AUTH_TOKEN
        from_number = settings.TWILIO_FROM_NUMBER
        missing = [
            setting
            for setting, value in (
                ("TWILIO_ACCOUNT_SID", account_sid),
                ("TWILIO_AUTH_TOKEN", auth_token),
                ("TWILIO_FROM_NUMBER", from_number),
            )
            if not value
        ]
        if missing:
            raise PermanentSmsError(
                f"Twilio is not configured: set {', '.join(missing)} (or choose another SMS_PROVIDER)",
                code="not_configured",
            )
        # max_retries=0: retries belong to the outbox, which knows whether one is safe.
        client = Client(
            account_sid,
            auth_token,
            http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT_S, max_retries=0),
        )
        return client, str(from_number)

    def send(
        self,
        *,
        to: str,
        body: str,
        kind: str = "",
        params: Mapping[str, str] | None = None,
        out_id: str = "",
    ) -> SendResult:
        client, from_number = self._client()
        options: dict[str, str] = {}
        callback = _status_callback_url()
        if callback:
            options["status_callback"] = callback
        try:
            message = client.messages.create(to=to, from_=from_number, body=body, **options)
        except TwilioRestException as exc:
            raise error_from_twilio(exc) from exc
        except requests.RequestException as exc:
            raise error_from_http(exc) from exc
        return SendResult(provider_message_id=str(message.sid))

    def lookup(self, message: SmsMessage) -> LookupResult:
        """Twilio keeps no id of ours: list the messages to that number sent since our first
        attempt and match the body. Any error → can't tell."""
        try:
            client, from_number = self._client()
            candidates = client.messages.list(
                to=message.to, date_sent_after=message.created_at - LOOKUP_SLACK, limit=LOOKUP_LIMIT
            )
        except (PermanentSmsError, TwilioException, requests.RequestException) as exc:
            logger.warning("Twilio lookup of SMS %s failed: %s", message.pk, exc)
            return LookupResult(found=None)
        for candidate in candidates:
            if candidate.body == message.body and (not from_number or candidate.from_ in (from_number, None)):
                return LookupResult(found=True, provider_message_id=str(candidate.sid), status=str(candidate.status))
        return LookupResult(found=False)
