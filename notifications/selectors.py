"""Read queries for the SMS outbox, opt-outs and replies."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import InboundSms, OptOut, SmsMessage


def sms_list(*, customer_id: int | None = None, work_order_id: int | None = None) -> QuerySet[SmsMessage]:
    """SMS messages, newest first, narrowed to a customer and/or a work order when given."""
    messages = SmsMessage.objects.all()
    if customer_id is not None:
        messages = messages.filter(customer_id=customer_id)
    if work_order_id is not None:
        messages = messages.filter(work_order_id=work_order_id)
    return messages.order_by("-created_at", "-id")


def sms_unknown() -> QuerySet[SmsMessage]:
    """Messages whose outcome neither we nor the provider could settle: staff decide (oldest first)."""
    return SmsMessage.objects.filter(status=SmsMessage.Status.UNKNOWN).order_by("created_at", "id")


def sms_opt_out_get(*, phone: str) -> OptOut | None:
    """The opt-out record of ``phone`` (E.164), if it opted out."""
    return OptOut.objects.filter(phone=phone).first()


def inbound_list(*, from_phone: str | None = None, unhandled: bool = False) -> QuerySet[InboundSms]:
    """Texts customers sent us, newest first; ``unhandled`` keeps those no handler dealt with."""
    replies = InboundSms.objects.all()
    if from_phone is not None:
        replies = replies.filter(from_phone=from_phone)
    if unhandled:
        replies = replies.filter(handled_at__isnull=True)
    return replies.order_by("-received_at", "-id")
