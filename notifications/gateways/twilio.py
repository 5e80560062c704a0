"""Twilio Programmable Messaging (``twilio`` v9), for numbers outside mainland China.

Credentials come from ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_FROM_NUMBER``;
missing ones fail the message at send time with a :class:`PermanentSmsError`.
"""

from __future__ import annotations

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from notifications.gateways.base import (
    PermanentSmsError,
    SendResult,
    SmsError,
    TransientSmsError,
    UnknownSmsOutcomeError,
)

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


class TwilioGateway:
    name = "twilio"

    def send(self, *, to: str, body: str) -> SendResult:
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
        try:
            message = client.messages.create(to=to, from_=from_number, body=body)
        except TwilioRestException as exc:
            raise error_from_twilio(exc) from exc
        except requests.RequestException as exc:
            raise error_from_http(exc) from exc
        return SendResult(provider_message_id=str(message.sid))
