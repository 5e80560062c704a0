"""Inbound-call webhooks. Thin: check who is calling us, parse, one service call, respond."""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

from server.common.exceptions import ApplicationError
from server.intake import menu, services
from server.intake.models import CallOutcome

logger = logging.getLogger(__name__)


def _twiml(text_zh: str, text_en: str, *, gather: Gather | None = None) -> HttpResponse:
    response = VoiceResponse()
    if gather is not None:
        response.append(gather)
    response.say(text_zh, language="cmn-CN")
    response.say(text_en, language="en-US")
    return HttpResponse(str(response), content_type="text/xml")


# How long the menu waits for a key or words before the answer after it is played.
MENU_TIMEOUT_SECONDS = 5


def _menu_gather(reference: str) -> Gather | None:
    """The menu, in Chinese then English: its key or words come back to this view (same CallSid)."""
    entries = menu.menu_current()
    if not entries:
        return None
    gather = Gather(
        input="dtmf speech",
        num_digits=1,
        action=reverse("twilio_voice"),
        method="POST",
        language="cmn-CN",
        timeout=MENU_TIMEOUT_SECONDS,
        hints=",".join(word for choice in entries for word in (choice.label_zh, choice.label_en)),
    )
    gather.say(f"您好，您的报修已登记，工单号 {reference}。" + menu.menu_prompt_zh(entries), language="cmn-CN")
    gather.say(f"Your repair request {reference} is registered. " + menu.menu_prompt_en(entries), language="en-US")
    return gather


def _twilio_choice_answer(choice: menu.ChoiceResult | None, reference: str) -> HttpResponse:
    """The answer to the menu's request: what was understood, then goodbye."""
    pick = choice.pick if choice is not None else None
    if pick is not None and pick.choice is None:
        return _twiml(
            f"抱歉，未能识别您的选择。您的报修已登记，工单号 {reference}，客服人员会与您联系确认。",
            f"Sorry, we did not understand your choice. Your request {reference} is registered; "
            "an agent will call you to confirm.",
        )
    if pick is not None and pick.choice is not None and pick.choice.agent:
        return _twiml(
            f"好的，客服人员会尽快与您联系。您的工单号是 {reference}。",
            f"An agent will call you back shortly. Your request is {reference}.",
        )
    chosen_zh = f"您选择了{pick.choice.label_zh}。" if pick is not None and pick.choice is not None else ""
    chosen_en = f"You chose {pick.choice.label_en}. " if pick is not None and pick.choice is not None else ""
    return _twiml(
        f"{chosen_zh}您的报修已受理，工单号 {reference}。我们会尽快安排工程师上门。",
        f"{chosen_en}Your repair request {reference} is registered; we will send a technician.",
    )


def _twilio_signed(request: HttpRequest) -> bool:
    token = settings.TWILIO_AUTH_TOKEN
    if not token:
        # Only the embedded default (DEBUG) takes unsigned calls; a deployment must set the token.
        return bool(settings.DEBUG)
    url = (
        settings.PUBLIC_BASE_URL + request.get_full_path() if settings.PUBLIC_BASE_URL else request.build_absolute_uri()
    )
    signature = request.headers.get("X-Twilio-Signature", "")
    return bool(signature) and RequestValidator(token).validate(url, request.POST, signature)


@csrf_exempt
@require_POST
def twilio_voice(request: HttpRequest) -> HttpResponse:
    """Always TwiML with 200 for a signed request: Twilio plays its own error for anything else,
    and the caller hangs up unrecorded. 403 for a bad signature, 413 for a body too big to check."""
    try:
        signed = _twilio_signed(request)  # on the raw form: what Twilio signed
    except RequestDataTooBig:
        return HttpResponse(_too_big_message(), status=413, content_type="text/plain")
    except TooManyFieldsSent:
        return HttpResponse("Too many form fields", status=400, content_type="text/plain")
    if not signed:
        logger.warning("Refused an unsigned or forged Twilio request from %s", request.META.get("REMOTE_ADDR"))
        return HttpResponse("Invalid or missing X-Twilio-Signature", status=403, content_type="text/plain")
    data = request.POST
    digits, speech = data.get("Digits", ""), data.get("SpeechResult", "")
    try:
        # Every request records the call (the menu's own request finds it already recorded), so
        # a caller who hangs up during the menu still has an order: see server.intake.menu.
        result = services.call_receive(
            provider="twilio",
            call_id=data.get("CallSid", ""),
            caller=data.get("From", ""),
            called=data.get("To", ""),
            call_status=data.get("CallStatus", ""),
            ivr_digits=digits,
            reason=speech,
            payload={key: data.get(key) for key in data},
        )
    except ApplicationError as exc:
        # Only a signed request without a CallSid gets here: nothing to record the call by.
        logger.error("Twilio call not recorded: %s", exc.message)
        return _twiml(
            "抱歉，系统暂时无法登记您的来电，请稍后再拨。",
            "Sorry, we could not register this call. Please call again later.",
        )
    reference = result.work_order.reference
    if result.unidentified:
        return _twiml(
            f"您好，我们无法识别您的来电号码。您的报修已登记，工单号 {reference}，客服人员会尽快与您联系。",
            f"Thank you. We could not see your phone number; your request {reference} is registered "
            "and an agent will call you back.",
        )
    if digits or speech:
        return _twilio_choice_answer(_choice_apply(result, digits=digits, speech=speech), reference)
    # A new order: the menu, then (nothing chosen) the usual goodbye. A joined order needs no menu.
    gather = _menu_gather(reference) if result.call.outcome == CallOutcome.CREATED else None
    return _twiml(
        f"您好，您的报修已受理，工单号 {reference}。我们会尽快安排工程师上门。",
        f"Thank you. Your repair request {reference} is registered; we will send a technician.",
        gather=gather,
    )


def _choice_apply(result: services.CallResult, *, digits: str, speech: str) -> menu.ChoiceResult | None:
    """The caller's menu choice applied to the recorded call; ``None`` when that failed. The call
    is recorded already, so a failure here is logged and the caller still gets an answer."""
    if not (digits or speech) or result.unidentified:
        return None
    try:
        return menu.call_choice_apply(call_record_id=result.call.pk, digits=digits, speech=speech)
    except Exception:  # the call is recorded: never lose the answer to a menu failure
        logger.exception("The menu choice of call %s:%s was not applied", result.call.provider, result.call.call_id)
        return None


def _cti_authorised(request: HttpRequest) -> bool:
    expected = settings.CTI_WEBHOOK_TOKEN
    if not expected:
        return bool(settings.DEBUG)
    return hmac.compare_digest(request.headers.get("X-Fixroute-Token", ""), expected)


def _too_big_message() -> str:
    return f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"


def _cti_error(
    message: str, *, status: int, code: str = "invalid", extra: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse({"message": message, "code": code, "extra": extra or {}}, status=status)


# Deeper JSON than any call event needs; json.loads would recurse until RecursionError (a 500).
JSON_MAX_DEPTH = 20
# An escape pair (so an escaped quote is skipped), a quote, or a bracket: one pass, no backtracking.
_JSON_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _json_too_deep(text: str, *, limit: int = JSON_MAX_DEPTH) -> bool:
    """Do arrays and objects in ``text`` nest deeper than ``limit``? Brackets in strings don't count."""
    depth = 0
    in_string = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _not_a_number(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _cti_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """The request's JSON object, or the error response saying what is wrong with it."""
    try:
        raw = request.body
    except RequestDataTooBig:
        return _cti_error(_too_big_message(), status=413, code="too_large")
    try:
        text = raw.decode(json.detect_encoding(raw)) if raw else "{}"
    except UnicodeDecodeError:
        return _cti_error("The body is not JSON (not UTF-8 text)", status=400)
    if _json_too_deep(text):
        return _cti_error(f"The JSON nests deeper than {JSON_MAX_DEPTH} levels", status=400)
    try:
        body = json.loads(text, parse_constant=_not_a_number)
    except (ValueError, RecursionError):  # JSONDecodeError, NaN, an integer too long to read
        return _cti_error("The body is not JSON", status=400)
    if not isinstance(body, dict):
        return _cti_error("The body must be a JSON object", status=400)
    return body


_CTI_FIELDS = {
    "call_id": str,
    "caller": str,
    "called": str,
    "digits": str,
    "speech": str,
    "reason": str,
    "status": str,
}


@csrf_exempt
@require_POST
def cti_call(request: HttpRequest) -> JsonResponse:
    """The same event as Twilio's, as JSON, from any phone system.

    ``digits`` (a key pressed) or ``speech`` (words said) is the caller's choice on the phone
    menu (``server.intake.menu``): it picks the caller's equipment and the skill. Only
    ``call_id`` is required; a caller that is missing, withheld or not a number is recorded
    for staff to call back (201, outcome "unidentified"). Long text is cut with a marker; a call
    id that does not fit (over 100 characters, or holding NUL) is answered and stored as
    ``sha256:<hex>`` of it, so a retry is still the same call.
    """
    if not _cti_authorised(request):
        return _cti_error("Missing or wrong X-Fixroute-Token", status=403, code="forbidden")
    body = _cti_body(request)
    if isinstance(body, JsonResponse):
        return body
    missing = [] if body.get("call_id") else ["call_id"]
    wrong = [
        name for name, kind in _CTI_FIELDS.items() if body.get(name) is not None and not isinstance(body[name], kind)
    ]
    if missing or wrong:
        return _cti_error(
            "Invalid call event", status=422, code="validation", extra={"missing": missing, "not_text": wrong}
        )
    digits, speech = body.get("digits") or "", body.get("speech") or ""
    try:
        result = services.call_receive(
            provider="cti",
            call_id=body["call_id"],
            caller=body.get("caller") or "",
            called=body.get("called") or "",
            call_status=body.get("status") or "",
            ivr_digits=digits,
            reason=body.get("reason") or speech,
            payload=body,
        )
    except ApplicationError as exc:
        return _cti_error(exc.message, status=exc.status_code, code=exc.code, extra=exc.extra)
    # The same menu as Twilio's, sent with the call or in a later event with the same call id.
    choice = _choice_apply(result, digits=digits, speech=speech)
    work_order = choice.work_order if choice is not None and choice.work_order is not None else result.work_order
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
