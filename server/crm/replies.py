"""A customer's SMS reply: answered by the machine when it can, put in front of staff otherwise.

``notifications`` records the reply (and handles STOP/START itself), then calls
:func:`sms_reply_handle` after commit (``settings.SMS_REPLY_HANDLER``). Every reply lands on the
customer's timeline: an event on their latest order, or a care note when they have none.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from notifications.models import InboundSms, SmsMessage
from server.accounts.models import Role
from server.care import services as care_services
from server.care.models import CallbackKind, CustomerNote, RatingSource
from server.common.exceptions import Conflict
from server.common.phones import phone_to_e164_or_none
from server.crm.models import Reminder
from server.crm.services import reminders
from server.customers.models import Customer
from server.workorders import services as work_order_services
from server.workorders.models import EventKind, Status, WorkOrder

# The account the machine acts as where a service asks for staff (booking a reminder's visit).
SYSTEM_USERNAME = "sms-replies"
# The callback kind for a reply nobody could answer automatically (falls back while care has none).
REPLY_CALLBACK_KINDS = ("sms_reply", CallbackKind.UNIDENTIFIED)
# Questions the machine answers with the live ETA and the tracking link.
ETA_QUESTION = re.compile(
    r"到哪|几点到|什么时候到|多久到|还要多久|怎么还没到|where\s+are\s+you|\bwhen\b|\beta\b|how\s+long",
    re.IGNORECASE,
)
_STARS = re.compile(r"^\s*([1-5])\s*[★*星分]?\s*[.!。！]?\s*$")
_VISIT_OPEN = (Status.SCHEDULED, Status.EN_ROUTE)


def _system_user() -> User:
    """The machine's own account: no password (it never logs in), an agent where staff is needed."""
    user, created = User.objects.get_or_create(username=SYSTEM_USERNAME, defaults={"first_name": "SMS"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=Role.AGENT.value))
    return user


def _last_text_kind(customer: Customer) -> str:
    """The kind of the last text we sent this customer ("" for none)."""
    return (
        SmsMessage.objects.filter(customer_id=customer.pk)
        .exclude(status=SmsMessage.Status.SUPPRESSED)
        .exclude(kind=SmsMessage.Kind.ETA_ANSWER)
        .order_by("-created_at", "-id")
        .values_list("kind", flat=True)
        .first()
        or ""
    )


def _rating(customer: Customer, order: WorkOrder | None, stars: int) -> str | None:
    if order is None or order.status != Status.COMPLETED:
        return None
    try:
        care_services.rating_record(work_order=order, stars=stars, source=RatingSource.SMS)
    except Conflict:
        return None
    return f"rating {stars}"


def _reminder_booked(customer: Customer) -> tuple[str, WorkOrder] | None:
    reminder = (
        Reminder.objects.filter(customer=customer, work_order__isnull=True, sms_id__isnull=False)
        .order_by("-created_at", "-id")
        .first()
    )
    if reminder is None:
        return None
    booked = reminders.reminder_order_create(reminder_id=reminder.pk, actor=_system_user())
    return f"reminder {reminder.pk} booked as {booked.reference}", booked


def _eta_answer(inbound: InboundSms, customer: Customer) -> tuple[str, WorkOrder] | None:
    """Text the live window and the tracking link of the customer's visit under way today."""
    order = (
        WorkOrder.objects.select_related("customer", "site", "technician")
        .filter(customer=customer, status__in=_VISIT_OPEN, technician__isnull=False)
        .order_by("-status", "planned_arrival", "pk")  # en_route before scheduled
        .first()
    )
    if order is None:
        return None
    eta = work_order_services.work_order_eta(order, now=timezone.now())
    if eta is None:
        return None
    window = work_order_services.eta_window(eta[0], travel=eta[1])
    work_order_services.work_order_sms_send(
        work_order=order,
        kind="eta_answer",
        key=f"inbound:{inbound.pk}:eta",
        window=window,
        link=True,
        urgent=True,
        data={"inbound_id": inbound.pk, "eta": eta[0].isoformat()},
    )
    return f"answered with ETA {work_order_services.window_text(*window)}", order


def _callback(inbound: InboundSms, customer: Customer | None, order: WorkOrder | None) -> str:
    reason = f"SMS reply from {inbound.from_phone}: “{inbound.body.strip()[:200]}”"
    for kind in REPLY_CALLBACK_KINDS:
        if kind not in CallbackKind.values:
            continue
        task = care_services.callback_task_create(
            kind=kind,
            reason=reason,
            customer=customer,
            work_order=order,
            phone=(customer.phone or "") if customer is not None else "",
            caller_raw=inbound.from_phone[:100] if customer is None else "",
        )
        return f"callback task {task.pk} for agents"
    return "left for staff"


def _timeline(inbound: InboundSms, customer: Customer, order: WorkOrder | None, outcome: str) -> None:
    text = f"SMS reply from {inbound.from_phone}: “{inbound.body.strip()}” → {outcome}"
    if order is not None:
        work_order_services.work_order_note(
            work_order=order,
            kind=EventKind.SMS,
            text=text,
            actor_label="customer (SMS)",
            data={"direction": "in", "inbound_id": inbound.pk, "outcome": outcome},
        )
    else:
        # No order to hang it on: a care note with no author (the customer wrote it, not staff).
        CustomerNote.objects.create(customer=customer, author=None, text=text)


@transaction.atomic
def sms_reply_handle(*, inbound_id: int) -> None:
    """Handle one inbound SMS (once: a handled one is left alone).

    By the sender's number (E.164) and their latest order: a digit 1–5 answering the "completed"
    text is the rating; "1" answering a maintenance reminder books it; complaint words raise a
    complaint (source "sms"); a question about arrival gets the live ETA window and the tracking
    link at once; anything else, or a sender we do not know, is a callback task for agents.
    """
    inbound = InboundSms.objects.select_for_update().filter(pk=inbound_id).first()
    if inbound is None or inbound.handled_at is not None:
        return
    body = inbound.body.strip()
    phone = phone_to_e164_or_none(inbound.from_phone)
    customer = Customer.objects.filter(phone=phone, erased_at__isnull=True).first() if phone is not None else None
    if customer is None:
        outcome = "unknown sender: " + _callback(inbound, None, None)
    else:
        order = customer.work_orders.order_by("-created_at", "-id").first()
        outcome = ""
        stars = _STARS.match(body)
        last = _last_text_kind(customer)
        if stars is not None and last == SmsMessage.Kind.COMPLETED:
            outcome = _rating(customer, order, int(stars.group(1))) or ""
        elif stars is not None and stars.group(1) == "1" and last == SmsMessage.Kind.REMINDER:
            booked = _reminder_booked(customer)
            if booked is not None:
                outcome, order = booked
        if not outcome and care_services.sms_reply_check(customer=customer, text=body, work_order=order):
            outcome = "complaint raised"
        if not outcome and ETA_QUESTION.search(body):
            answered = _eta_answer(inbound, customer)
            if answered is not None:
                outcome, order = answered
        if not outcome:
            outcome = _callback(inbound, customer, order)
        _timeline(inbound, customer, order, outcome)
    inbound.handled_at = timezone.now()
    inbound.outcome = outcome
    inbound.save(update_fields=["handled_at", "outcome"])
