"""The SMS providers' webhooks: customers' replies and delivery reports.

Thin receivers: check the signature, hand the request to ``notifications.replies`` and answer
fast (Twilio waits 15 s, Aliyun ~700 ms). Twilio requests are signed (``X-Twilio-Signature``,
checked as ``server.intake.views`` does for calls); with ``DEBUG`` and no
``TWILIO_AUTH_TOKEN`` unsigned requests are accepted (the embedded default). Aliyun's HTTP push
carries no signature (brief §3.8).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications import replies
from notifications.gateways.aliyun import parse_aliyun_time

logger = logging.getLogger(__name__)

ALIYUN_OK = {"code": 0, "msg": "成功"}
# More reports per push than Aliyun sends; a bigger list is refused rather than processed slowly.
ALIYUN_MAX_ITEMS = 1000


def _twilio_signed(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        # Only the embedded default (DEBUG) takes unsigned requests; a deployment must set the token.
        return bool(settings.DEBUG)
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "")
    url = base.rstrip("/") + request.get_full_path() if base else request.build_absolute_uri()
    signature = request.headers.get("X-Twilio-Signature", "")
    return bool(signature) and RequestValidator(token).validate(url, request.POST, signature)


def _twilio_refusal(request: HttpRequest) -> HttpResponse | None:
    """A response refusing the request, or None when it is signed."""
    try:
        signed = _twilio_signed(request)
    except RequestDataTooBig:
        return HttpResponse("Request body too big", status=413, content_type="text/plain")
    except TooManyFieldsSent:
        return HttpResponse("Too many form fields", status=400, content_type="text/plain")
    if not signed:
        logger.warning("Refused an unsigned or forged Twilio SMS webhook from %s", request.META.get("REMOTE_ADDR"))
        return HttpResponse("Invalid or missing X-Twilio-Signature", status=403, content_type="text/plain")
    return None


def _twiml(text: str = "") -> HttpResponse:
    response = MessagingResponse()
    if text:
        response.message(text)
    return HttpResponse(str(response), content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_sms(request: HttpRequest) -> HttpResponse:
    """A customer's text (Twilio "A message comes in"): recorded once per MessageSid; 200 with
    TwiML, a <Message> only to confirm 退订/TD/订阅 (Twilio answers its own keywords)."""
    refusal = _twilio_refusal(request)
    if refusal is not None:
        return refusal
    data = request.POST
    sid = data.get("MessageSid", "") or data.get("SmsSid", "")
    sender = data.get("From", "")
    if not sid or not sender:
        return HttpResponse("MessageSid and From are required", status=400, content_type="text/plain")
    result = replies.inbound_receive(
        provider="twilio",
        provider_message_id=sid,
        from_phone=sender,
        to_phone=data.get("To", ""),
        body=data.get("Body", ""),
        opt_out_type=data.get("OptOutType", ""),
    )
    keyword = replies.keyword_of(result.inbound.body)
    if result.answer and keyword not in replies.TWILIO_HANDLED_KEYWORDS and not data.get("OptOutType"):
        return _twiml(result.answer)
    return _twiml()


@csrf_exempt
@require_POST
def twilio_sms_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback: MessageSid + MessageStatus (+ ErrorCode) → delivery state."""
    refusal = _twilio_refusal(request)
    if refusal is not None:
        return refusal
    data = request.POST
    sid = data.get("MessageSid", "") or data.get("SmsSid", "")
    status = (data.get("MessageStatus", "") or data.get("SmsStatus", "")).lower()
    delivery = replies.TWILIO_DELIVERY.get(status)
    if sid and delivery is not None:
        replies.sms_delivery_report(
            provider="twilio", provider_message_id=sid, status=delivery, error_code=data.get("ErrorCode", "")
        )
    return HttpResponse(status=204)


def _aliyun_authorised(request: HttpRequest) -> bool:
    expected = str(settings.ALIYUN_SMS_PUSH_TOKEN)
    if not expected:
        return bool(settings.DEBUG)
    return hmac.compare_digest(request.GET.get("token", ""), expected)


def _aliyun_items(request: HttpRequest) -> list[dict[str, Any]] | JsonResponse:
    if not _aliyun_authorised(request):
        logger.warning("Refused an Aliyun push without the right token from %s", request.META.get("REMOTE_ADDR"))
        return JsonResponse({"code": 1, "msg": "missing or wrong token"}, status=403)
    try:
        payload = json.loads(request.body or b"[]")
    except (ValueError, RequestDataTooBig):
        return JsonResponse({"code": 1, "msg": "invalid JSON"}, status=400)
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or len(payload) > ALIYUN_MAX_ITEMS:
        return JsonResponse({"code": 1, "msg": "expected a JSON list"}, status=400)
    return [item for item in payload if isinstance(item, dict)]


@csrf_exempt
@require_POST
def aliyun_sms_up(request: HttpRequest) -> JsonResponse:
    """Aliyun SmsUp push: a JSON list of {phone_number, content, send_time, sign_name, dest_code,
    sequence_id}; each is recorded once (by sequence_id) and handled like a Twilio reply. Opt-out
    confirmations go out as SMS (Aliyun cannot answer inline)."""
    items = _aliyun_items(request)
    if isinstance(items, JsonResponse):
        return items
    for item in items:
        phone = str(item.get("phone_number", "") or "")
        content = str(item.get("content", "") or "")
        sent = str(item.get("send_time", "") or "")
        key = str(item.get("sequence_id", "") or "") or f"{phone}:{sent}:{content}"[:100]
        if not phone:
            continue
        result = replies.inbound_receive(
            provider="aliyun",
            provider_message_id=key[:100],
            from_phone=replies.e164_from_aliyun(phone),
            to_phone=str(item.get("dest_code", "") or ""),
            body=content,
            received_at=parse_aliyun_time(sent),
        )
        replies.confirmation_queue(result)
    return JsonResponse(ALIYUN_OK)


@csrf_exempt
@require_POST
def aliyun_sms_report(request: HttpRequest) -> JsonResponse:
    """Aliyun SmsReport push: a JSON list of {biz_id, phone_number, success, err_code,
    report_time, …} → delivery state (delivered, or undelivered with the error code)."""
    items = _aliyun_items(request)
    if isinstance(items, JsonResponse):
        return items
    for item in items:
        success = item.get("success")
        delivered = success is True or str(success).lower() == "true"
        replies.sms_delivery_report(
            provider="aliyun",
            provider_message_id=str(item.get("biz_id", "") or ""),
            status=replies.Delivery.DELIVERED if delivered else replies.Delivery.UNDELIVERED,
            error_code="" if delivered else str(item.get("err_code", "") or ""),
            at=parse_aliyun_time(str(item.get("report_time", "") or "")),
        )
    return JsonResponse(ALIYUN_OK)
