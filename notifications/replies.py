"""Inbound texts and delivery reports: record once, honour opt-out keywords, hand the rest on.

The webhooks (``notifications.views``) stay thin and call these services. A customer's reply
is recorded once per provider message id; STOP/退订/TD… opt the number out and START/订阅 back
in; every other reply is handed, after commit, to the handler named by
``settings.SMS_REPLY_HANDLER`` (``server.crm.replies.sms_reply_handle(*, inbound_id)``), which
marks it handled (``inbound_mark_handled``) or leaves it for the agents' queue.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from notifications import messages, services
from notifications.models import InboundSms, SmsMessage

logger = logging.getLogger(__name__)

# Whole-message keywords, case-insensitive (brief §1.6; 退订/TD/T/R are the Chinese carriers').
OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "退订", "TD", "T", "R"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "订阅"})
# Keywords Twilio's own opt-out handling answers on a long code; for these our TwiML stays
# empty (a second confirmation would be one text too many, and Twilio blocks it anyway).
TWILIO_HANDLED_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "START", "UNSTOP"}
)
_TRIM = re.compile(r"^[\s\"'“”‘’.,!?。，！？、]+|[\s\"'“”‘’.,!?。，！？、]+$")

Delivery = SmsMessage.Delivery
# Precedence: a report never moves the state backwards; final states do not replace each other.
DELIVERY_RANK = {
    Delivery.NONE: 0,
    Delivery.QUEUED: 1,
    Delivery.SENT: 2,
    Delivery.DELIVERED: 3,
    Delivery.UNDELIVERED: 3,
    Delivery.FAILED: 3,
}
TWILIO_DELIVERY = {
    "accepted": Delivery.QUEUED,
    "scheduled": Delivery.QUEUED,
    "queued": Delivery.QUEUED,
    "sending": Delivery.SENT,
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.DELIVERED,
    "undelivered": Delivery.UNDELIVERED,
    "failed": Delivery.FAILED,
    "canceled": Delivery.FAILED,
}


def keyword_of(body: str) -> str:
    """The message as a keyword: trimmed of spaces and punctuation, upper-cased."""
    return _TRIM.sub("", body).upper()


@dataclass(frozen=True, slots=True)
class InboundResult:
    """What receiving a text did. ``action``: "opted_out", "opted_in", "reply" (handed to the
    reply handler after commit) or "duplicate" (already recorded: nothing done again).
    ``answer`` is a confirmation text for the provider to send back, if any."""

    inbound: InboundSms
    action: str
    answer: str = ""


def _confirmation(kind: str, *, keyword: str) -> tuple[str, str]:
    chinese = messages.has_cjk(keyword) or keyword in {"TD", "T", "R"}
    language = messages.ZH if chinese else messages.EN
    try:
        text = messages.visit_text(kind, language=language, signature=str(settings.SMS_SIGNATURE))
    except ValueError:
        logger.error("SMS_SIGNATURE %r is too long for a text; no %s confirmation", settings.SMS_SIGNATURE, kind)
        return "", language
    return text, language


def inbound_receive(
    *,
    provider: str,
    provider_message_id: str,
    from_phone: str,
    to_phone: str = "",
    body: str = "",
    received_at: datetime | None = None,
    opt_out_type: str = "",
) -> InboundResult:
    """Record a customer's text once and act on it (see the module docstring).

    A repeat of the same (provider, provider_message_id) is a webhook retry: ``duplicate``, and
    nothing is done again. ``opt_out_type`` is Twilio Advanced Opt-Out's own classification
    ("STOP"/"START"), honoured as a keyword. Keyword replies are marked handled; others are
    dispatched to ``settings.SMS_REPLY_HANDLER`` once the transaction commits.
    """
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                inbound = InboundSms.objects.create(
                    provider=provider,
                    provider_message_id=provider_message_id,
                    from_phone=from_phone,
                    to_phone=to_phone,
                    body=body,
                    received_at=received_at or now,
                )
        except IntegrityError:
            existing = InboundSms.objects.get(provider=provider, provider_message_id=provider_message_id)
            return InboundResult(inbound=existing, action="duplicate")
        keyword = keyword_of(body)
        advanced = opt_out_type.strip().upper()
        if keyword in OPT_OUT_KEYWORDS or advanced == "STOP":
            services.sms_opt_out(phone=from_phone, source=provider, keyword=keyword[:32])
            return _keyword_done(inbound, action="opted_out", kind="opted_out", keyword=keyword, now=now)
        if keyword in OPT_IN_KEYWORDS or advanced == "START":
            services.sms_opt_in(phone=from_phone, source=provider, keyword=keyword[:32])
            return _keyword_done(inbound, action="opted_in", kind="opted_in", keyword=keyword, now=now)
        inbound_id = inbound.pk

        def dispatch_sms_reply() -> None:
            inbound_dispatch(inbound_id=inbound_id)

        transaction.on_commit(dispatch_sms_reply, robust=True)
    return InboundResult(inbound=inbound, action="reply")


def _keyword_done(inbound: InboundSms, *, action: str, kind: str, keyword: str, now: datetime) -> InboundResult:
    answer, _language = _confirmation(kind, keyword=keyword)
    inbound.handled_at = now
    inbound.outcome = f"{action.replace('_', ' ')} ({keyword})"
    inbound.save(update_fields=["handled_at", "outcome"])
    return InboundResult(inbound=inbound, action=action, answer=answer)


def confirmation_queue(result: InboundResult) -> SmsMessage | None:
    """Send the opt-out/in confirmation as an SMS through the outbox (providers that cannot
    answer inline, e.g. Aliyun); one per inbound message."""
    if not result.answer or result.action not in ("opted_out", "opted_in"):
        return None
    inbound = result.inbound
    language = messages.ZH if messages.has_cjk(result.answer) else messages.EN
    try:
        return services.sms_queue(
            to=inbound.from_phone,
            body=result.answer,
            kind=result.action,
            language=language,
            idempotency_key=f"sms-confirm:{inbound.provider}:{inbound.provider_message_id}",
            urgent=True,
        )
    except Exception:
        logger.exception("The %s confirmation to inbound SMS %s was not queued", result.action, inbound.pk)
        return None


def inbound_dispatch(*, inbound_id: int) -> None:
    """Hand a recorded reply to ``settings.SMS_REPLY_HANDLER``; never raises.

    A handler that cannot be imported or fails is logged and the reply stays unhandled
    (``handled_at`` empty, ``outcome`` says why) so staff see it.
    """
    inbound = InboundSms.objects.filter(pk=inbound_id).first()
    if inbound is None or inbound.handled_at is not None:
        return
    path = str(getattr(settings, "SMS_REPLY_HANDLER", "") or "")
    try:
        handler = import_string(path)
    except ImportError as exc:
        logger.error("SMS reply handler %r not importable (%s); inbound SMS %s waits for staff", path, exc, inbound_id)
        InboundSms.objects.filter(pk=inbound_id).update(outcome=f"no reply handler: {path or 'not set'}")
        return
    try:
        handler(inbound_id=inbound_id)
    except Exception as exc:
        logger.exception("SMS reply handler failed on inbound SMS %s", inbound_id)
        InboundSms.objects.filter(pk=inbound_id, handled_at__isnull=True).update(
            outcome=f"reply handler failed: {type(exc).__name__}"
        )


def inbound_mark_handled(*, inbound_id: int, outcome: str) -> InboundSms:
    """For the reply handler: the reply is dealt with; ``outcome`` says how (shown to staff)."""
    inbound = InboundSms.objects.get(pk=inbound_id)
    inbound.handled_at = timezone.now()
    inbound.outcome = outcome
    inbound.save(update_fields=["handled_at", "outcome"])
    return inbound


def sms_delivery_report(
    *,
    provider: str,
    provider_message_id: str,
    status: str,
    error_code: str = "",
    at: datetime | None = None,
) -> SmsMessage | None:
    """Apply a provider's delivery report to the message it sent as ``provider_message_id``.

    ``status`` is one of ``SmsMessage.Delivery``'s values. The state only moves forward
    (queued → sent → delivered | undelivered | failed; final states are not replaced), so
    retried and out-of-order reports are harmless. Returns None for an id we don't know (a
    report can beat our own record of the id; it is logged).
    """
    if not provider_message_id or status not in DELIVERY_RANK:
        return None
    with transaction.atomic():
        message = (
            SmsMessage.objects.select_for_update()
            .filter(provider=provider, provider_message_id=provider_message_id)
            .first()
        )
        if message is None:
            logger.warning("Delivery report %s for unknown %s message %s", status, provider, provider_message_id)
            return None
        if DELIVERY_RANK[Delivery(status)] <= DELIVERY_RANK[Delivery(message.delivery_status)]:
            return message
        message.delivery_status = status
        message.delivery_error = error_code[:64]
        message.delivery_at = at or timezone.now()
        message.save(update_fields=["delivery_status", "delivery_error", "delivery_at", "updated_at"])
    return message


def e164_from_aliyun(phone: str) -> str:
    """Aliyun's "13800138000" (mainland, no prefix) or "8613800138000" → "+8613800138000"."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11 and digits.startswith("1"):
        return f"+86{digits}"
    if digits.startswith("0086"):
        return f"+{digits[2:]}"
    return f"+{digits}"
