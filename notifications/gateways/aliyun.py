"""Alibaba Cloud SMS (Dysmsapi 2017-05-25, ``alibabacloud-dysmsapi20170525``) for +86 numbers.

Aliyun sends approved templates, not free text: the template code for a message's kind comes
from ``ALIYUN_SMS_TEMPLATES`` ("booked=SMS_1,on_my_way=SMS_2,…") and its variables from the
row's ``template_params``; the signature is ``ALIYUN_SMS_SIGN_NAME``. SendSms is not idempotent
(Aliyun says so), so the SDK's own retries are off: retries belong to the outbox, and an
ambiguous outcome is reconciled with ``QuerySendDetails`` by our ``OutId`` (brief §2).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import requests
from alibabacloud_dysmsapi20170525 import models as dysms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models
from darabonba.exceptions import RetryError as DaraRetryError
from darabonba.policy.retry import RetryOptions
from darabonba.runtime import RuntimeOptions
from django.conf import settings
from Tea.exceptions import TeaException, UnretryableException

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

CONNECT_TIMEOUT_MS = 3000
READ_TIMEOUT_MS = 10000
# Aliyun's dates (SendDate, report times) are Beijing time without an offset.
ALIYUN_TZ = ZoneInfo("Asia/Shanghai")
LOOKUP_PAGE_SIZE = 50

# Error codes (brief §2.2): transient ones are retried by the outbox with backoff. Rate control
# (isv.BUSINESS_LIMIT_CONTROL: the per-number/day limits) is transient too: the backoff ends
# after five attempts (~2.5 min) and the row fails, which staff see, rather than hammering.
TRANSIENT_CODES = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isv.BUSINESS_LIMIT_CONTROL",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
    }
)
# Everything else refused (invalid number, template/signature, account, parameters) is permanent.

# QuerySendDetails SendStatus: 1 waiting for the carrier's receipt, 2 failed, 3 delivered.
SEND_STATUS = {1: "sent", 2: "failed", 3: "delivered"}


def parse_templates(value: str) -> dict[str, str]:
    """``"booked=SMS_1, on_my_way=SMS_2"`` → ``{"booked": "SMS_1", "on_my_way": "SMS_2"}``."""
    templates: dict[str, str] = {}
    for item in value.split(","):
        kind, _, code = item.partition("=")
        if kind.strip() and code.strip():
            templates[kind.strip()] = code.strip()
    return templates


def national_number(phone: str) -> str:
    """Aliyun takes mainland numbers without "+86" and others as country code + number, no "+"."""
    digits = phone.lstrip("+")
    return digits[2:] if phone.startswith("+86") else digits


def _endpoint() -> tuple[str, str]:
    """(host[:port], protocol) from ALIYUN_SMS_ENDPOINT; "http://127.0.0.1:8080" picks plain HTTP."""
    endpoint = str(settings.ALIYUN_SMS_ENDPOINT or "dysmsapi.aliyuncs.com").rstrip("/")
    for protocol in ("http", "https"):
        prefix = f"{protocol}://"
        if endpoint.startswith(prefix):
            return endpoint[len(prefix) :], protocol
    return endpoint, "https"


def error_from_aliyun(code: str, message: str) -> SmsError:
    text = f"Aliyun {code}: {message or 'no message'}"
    if code in TRANSIENT_CODES:
        return TransientSmsError(text, code=code)
    return PermanentSmsError(text, code=code)


# darabonba wraps transport errors in RetryError(str(original)): only the text is left. These
# mean the connection was never made, so the request cannot have reached Aliyun.
_NOT_CONNECTED = ("NewConnectionError", "Failed to establish a new connection", "ConnectTimeoutError")


def error_from_exception(exc: Exception) -> SmsError:
    """Classify an SDK exception: an HTTP answer by its code and status, a transport error by
    whether the request can have reached Aliyun (only a failed connect is safe to retry)."""
    inner = exc.inner_exception if isinstance(exc, UnretryableException) else exc
    if isinstance(inner, TeaException) and not isinstance(inner, DaraRetryError):
        code = str(inner.code or "")
        status = getattr(inner, "statusCode", None)
        if isinstance(status, int) and status >= 500:
            return TransientSmsError(f"Aliyun HTTP {status}: {inner.message}", code=code or None)
        return error_from_aliyun(code, str(inner.message or ""))
    text = str(getattr(inner, "message", "") or inner)
    if isinstance(inner, requests.ConnectTimeout) or any(marker in text for marker in _NOT_CONNECTED):
        return TransientSmsError(f"Aliyun request failed before sending: {text}")
    return UnknownSmsOutcomeError(f"Aliyun call failed: {type(inner).__name__}: {text}")


class AliyunGateway:
    name = "aliyun"

    def _client(self) -> Client:
        key_id = settings.ALIYUN_SMS_ACCESS_KEY_ID
        secret = settings.ALIYUN_SMS_ACCESS_KEY_SECRET
        missing = [
            name
            for name, value in (
                ("ALIYUN_SMS_ACCESS_KEY_ID", key_id),
                ("ALIYUN_SMS_ACCESS_KEY_SECRET", secret),
                ("ALIYUN_SMS_SIGN_NAME", settings.ALIYUN_SMS_SIGN_NAME),
            )
            if not value
        ]
        if missing:
            raise PermanentSmsError(f"Aliyun SMS is not configured: set {', '.join(missing)}", code="not_configured")
        endpoint, protocol = _endpoint()
        config = open_api_models.Config(
            access_key_id=key_id,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol=protocol,
            connect_timeout=CONNECT_TIMEOUT_MS,
            read_timeout=READ_TIMEOUT_MS,
            # SendSms is not idempotent: no SDK retries (the outbox decides when one is safe).
            retry_options=RetryOptions({"retryable": False}),
        )
        return Client(config)

    @staticmethod
    def _runtime() -> RuntimeOptions:
        return RuntimeOptions(
            autoretry=False, max_attempts=0, connect_timeout=CONNECT_TIMEOUT_MS, read_timeout=READ_TIMEOUT_MS
        )

    def send(
        self,
        *,
        to: str,
        body: str,
        kind: str = "",
        params: Mapping[str, str] | None = None,
        out_id: str = "",
    ) -> SendResult:
        template = parse_templates(str(settings.ALIYUN_SMS_TEMPLATES or "")).get(kind)
        if not template:
            raise PermanentSmsError(
                f"No Aliyun template for SMS kind {kind!r}: add it to ALIYUN_SMS_TEMPLATES", code="no_template"
            )
        client = self._client()
        request = dysms_models.SendSmsRequest(
            phone_numbers=national_number(to),
            sign_name=str(settings.ALIYUN_SMS_SIGN_NAME),
            template_code=template,
            template_param=json.dumps({k: str(v) for k, v in (params or {}).items()}, ensure_ascii=False),
            out_id=out_id or None,
        )
        try:
            response = client.send_sms_with_options(request, self._runtime())
        except Exception as exc:
            raise error_from_exception(exc) from exc
        answer = response.body
        if answer is None or answer.code != "OK":
            code = answer.code if answer is not None else ""
            raise error_from_aliyun(str(code or "no_code"), str(answer.message if answer is not None else ""))
        return SendResult(provider_message_id=str(answer.biz_id or ""))

    def lookup(self, message: SmsMessage) -> LookupResult:
        """QuerySendDetails for the number on the day of our first attempt, matched by OutId
        (our row id); any error → can't tell."""
        send_date = message.created_at.astimezone(ALIYUN_TZ).strftime("%Y%m%d")
        request = dysms_models.QuerySendDetailsRequest(
            phone_number=national_number(message.to),
            send_date=send_date,
            page_size=LOOKUP_PAGE_SIZE,
            current_page=1,
        )
        try:
            response = self._client().query_send_details_with_options(request, self._runtime())
        except Exception as exc:
            logger.warning("Aliyun lookup of SMS %s failed: %s", message.pk, exc)
            return LookupResult(found=None)
        answer = response.body
        if answer is None or answer.code != "OK":
            logger.warning("Aliyun lookup of SMS %s refused: %s", message.pk, answer.code if answer else "no body")
            return LookupResult(found=None)
        details: list[Any] = []
        if answer.sms_send_detail_dtos is not None:
            details = list(answer.sms_send_detail_dtos.sms_send_detail_dto or [])
        for detail in details:
            if str(detail.out_id or "") == str(message.pk):
                return LookupResult(
                    found=True,
                    provider_message_id=message.provider_message_id,
                    status=SEND_STATUS.get(int(detail.send_status or 0), ""),
                )
        return LookupResult(found=False)


def parse_aliyun_time(value: str) -> datetime | None:
    """ "2017-01-01 00:00:00" (Beijing time) → aware datetime; None when unparsable."""
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=ALIYUN_TZ)
    except (AttributeError, ValueError):
        return None
