"""Inbound-call webhooks. Thin: check who is calling us, parse, one service call, respond."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from server.common.exceptions import ApplicationError
from server.intake import services

logger = logging.getLogger(__name__)


def _twiml(text_zh: str, text_en: str, *, status: int = 200) -> HttpResponse:
    response = VoiceResponse()
    response.say(text_zh, language="cmn-CN")
    response.say(text_en, language="en-US")
    return HttpResponse(str(response), content_type="text/xml", status=status)


def _twilio_signed(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        # Only the embedded default (DEBUG) takes unsigned calls; a deployment must set the token.
        return bool(settings.DEBUG)
    url = (
        settings.PUBLIC_BASE_URL + request.get_full_path()
        if settings.PUBLIC_BASE_URL
        else request.build_absolute_uri()
    )
    signature = request.headers.get("X-Twilio-Signature", "")
    return bool(signature) and RequestValidator(token).validate(url, request.POST, signature)


@csrf_exempt
@require_POST
def twilio_voice(request: HttpRequest) -> HttpResponse:
    if not _twilio_signed(request):
        logger.warning("Refused an unsigned or forged Twilio request from %s", request.META.get("REMOTE_ADDR"))
        return HttpResponse("Invalid or missing X-Twilio-Signature", status=403, content_type="text/plain")
    data = request.POST
    try:
        result = services.call_receive(
            provider="twilio",
            call_id=data.get("CallSid", ""),
            caller=data.get("From", ""),
            called=data.get("To", ""),
            call_status=data.get("CallStatus", ""),
            ivr_digits=data.get("Digits", ""),
            reason=data.get("SpeechResult", ""),
            payload={key: data.get(key) for key in data},
        )
    except ApplicationError as exc:
        # The caller still hears something; Twilio logs the 400 with our message.
        logger.warning("Twilio call refused: %s", exc.message)
        return _twiml(
            "抱歉，我们无法识别您的来电号码，请稍后再拨或联系客服。",
            f"Sorry, we could not register this call: {exc.message}.",
            status=400,
        )
    reference = result.work_order.reference
    return _twiml(
        f"您好，您的报修已受理，工单号 {reference}。我们会尽快安排工程师上门。",
        f"Thank you. Your repair request {reference} is registered; we will send a technician.",
    )


def _cti_authorised(request: HttpRequest) -> bool:
    expected = settings.CTI_WEBHOOK_TOKEN
    if not expected:
        return bool(settings.DEBUG)
    return hmac.compare_digest(request.headers.get("X-Fixroute-Token", ""), expected)


_CTI_FIELDS = {"call_id": str, "caller": str, "called": str, "digits": str, "reason": str, "status": str}


@csrf_exempt
@require_POST
def cti_call(request: HttpRequest) -> JsonResponse:
    """The same event as Twilio's, as JSON, from any phone system."""
    if not _cti_authorised(request):
        return JsonResponse({"message": "Missing or wrong X-Fixroute-Token", "extra": {}}, status=403)
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JsonResponse({"message": "The body is not JSON", "extra": {}}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"message": "The body must be a JSON object", "extra": {}}, status=400)
    missing = [name for name in ("call_id", "caller") if not body.get(name)]
    wrong = [name for name, kind in _CTI_FIELDS.items() if name in body and body[name] is not None
             and not isinstance(body[name], kind)]
    if missing or wrong:
        return JsonResponse(
            {"message": "Invalid call event", "extra": {"missing": missing, "not_text": wrong}}, status=422
        )
    try:
        result = services.call_receive(
            provider="cti",
            call_id=body["call_id"],
            caller=body["caller"],
            called=body.get("called") or "",
            call_status=body.get("status") or "",
            ivr_digits=body.get("digits") or "",
            reason=body.get("reason") or "",
            payload=body,
        )
    except ApplicationError as exc:
        return JsonResponse({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    work_order = result.work_order
    return JsonResponse(
        {
            "call_id": result.call.call_id,
            "outcome": result.call.outcome,
            "repeated_request": result.repeated_request,
            "work_order": {
                "id": work_order.pk,
                "reference": work_order.reference,
                "status": work_order.status,
                "technician": work_order.technician.name if work_order.technician else None,
                "planned_arrival": work_order.planned_arrival.isoformat() if work_order.planned_arrival else None,
                "promised_start": work_order.promised_start.isoformat() if work_order.promised_start else None,
                "promised_end": work_order.promised_end.isoformat() if work_order.promised_end else None,
                "needs_review": work_order.needs_review,
            },
        },
        status=200 if result.repeated_request else 201,
    )
