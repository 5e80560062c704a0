"""Read queries for the SMS outbox."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import SmsMessage


def sms_list(*, customer_id: int | None = None, work_order_id: int | None = None) -> QuerySet[SmsMessage]:
    """SMS messages, newest first, narrowed to a customer and/or a work order when given."""
    messages = SmsMessage.objects.all()
    if customer_id is not None:
        messages = messages.filter(customer_id=customer_id)
    if work_order_id is not None:
        messages = messages.filter(work_order_id=work_order_id)
    return messages.order_by("-created_at", "-id")
