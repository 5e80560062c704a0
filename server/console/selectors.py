"""Reads for the staff console: the screen-pop, the customer's timeline, searches and lists.

Everything the console shows is read here; the views only render. Writes go through the
services of the apps below (intake, scheduling.changes, care).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.models import SmsMessage
from server.accounts.models import Role
from server.accounts.roles import has_role
from server.care.models import (
    CallbackTask,
    ComplaintAction,
    ComplaintRecord,
    ConsentRecord,
    CustomerNote,
    WorkOrderRating,
)
from server.common.exceptions import NotFound
from server.common.phones import phone_to_e164_or_none
from server.crm.models import Reminder
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallOutcome, CallRecord
from server.technicians.models import Skill, Technician
from server.workorders import event_text
from server.workorders.models import (
    OPEN_STATUSES,
    EventKind,
    Priority,
    Status,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderPhoto,
)

# The models' choice labels are English and belong to apps below; the console shows these.
STATUS_LABELS: dict[str, Any] = {
    Status.NEW: gettext_lazy("New"),
    Status.SCHEDULED: gettext_lazy("Scheduled"),
    Status.EN_ROUTE: gettext_lazy("On the way"),
    Status.ON_SITE: gettext_lazy("On site"),
    Status.ON_HOLD: gettext_lazy("On hold"),
    Status.COMPLETED: gettext_lazy("Completed"),
    Status.CANCELLED: gettext_lazy("Cancelled"),
}
PRIORITY_LABELS: dict[str, Any] = {
    Priority.LOW: gettext_lazy("Low"),
    Priority.NORMAL: gettext_lazy("Normal"),
    Priority.HIGH: gettext_lazy("High"),
    Priority.URGENT: gettext_lazy("Urgent"),
}
EVENT_LABELS: dict[str, Any] = {
    EventKind.CREATED: gettext_lazy("Created"),
    EventKind.STATUS: gettext_lazy("Status changed"),
    EventKind.ASSIGNED: gettext_lazy("Assigned"),
    EventKind.CALL: gettext_lazy("Call"),
    EventKind.NOTE: gettext_lazy("Note"),
    EventKind.SMS: gettext_lazy("SMS"),
    EventKind.MOVED: gettext_lazy("Moved by the plan"),
    EventKind.PROMISE: gettext_lazy("Promise"),
    EventKind.PINNED: gettext_lazy("Pinned"),
}
OUTCOME_LABELS: dict[str, Any] = {
    CallOutcome.CREATED: gettext_lazy("created a work order"),
    CallOutcome.JOINED: gettext_lazy("joined an open work order"),
    CallOutcome.UNIDENTIFIED: gettext_lazy("caller not identified; call back"),
}
SMS_STATUS_LABELS: dict[str, Any] = {
    SmsMessage.Status.QUEUED: gettext_lazy("queued"),
    SmsMessage.Status.SENDING: gettext_lazy("sending"),
    SmsMessage.Status.SENT: gettext_lazy("sent"),
    SmsMessage.Status.FAILED: gettext_lazy("failed"),
}

WORK_ORDER_PAGE_SIZE = 25
SEARCH_LIMIT = 10
_REFERENCE = re.compile(r"^\s*(?:wo[-\s]?)?0*(\d{1,9})\s*$", re.IGNORECASE)


# --- phone numbers -----------------------------------------------------------------------------


def phone_full_visible(user: User | AnonymousUser) -> bool:
    """Dispatchers, supervisors and administrators see whole numbers in lists; agents see them
    partly masked (whole on the customer page, which is audit-logged)."""
    return has_role(user, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)


def phone_mask(phone: str | None) -> str:
    """``+8613800138001`` → ``+86 138****8001``: enough to recognise, not enough to copy."""
    if not phone:
        return ""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return "****" + phone[-2:] if len(phone) > 2 else "****"
    national = str(parsed.national_number)
    shown = f"{national[:3]}****{national[-4:]}" if len(national) >= 9 else "****" + national[-2:]
    return f"+{parsed.country_code} {shown}"


def phone_for(user: User | AnonymousUser, phone: str | None) -> str:
    """A phone number as a list shows it to ``user``."""
    if not phone:
        return ""
    return phone if phone_full_visible(user) else phone_mask(phone)


# --- the screen-pop ----------------------------------------------------------------------------


def call_latest_id() -> int:
    """The newest recorded call's id (the screen-pop shows only calls after it)."""
    return CallRecord.objects.order_by("-id").values_list("pk", flat=True).first() or 0


def call_newer_than(*, after: int) -> CallRecord | None:
    """The newest call recorded after id ``after``, with what it found; ``None`` if none (the
    cheap check every open console makes twice a second: one primary-key range query).

    A call is committed whole (record, customer and order in one transaction), so a call that
    is visible here already has its outcome.
    """
    return (
        CallRecord.objects.filter(pk__gt=after)
        .exclude(outcome="")
        .select_related("customer", "work_order", "work_order__technician")
        .order_by("-id")
        .first()
    )


@dataclass
class CustomerCard:
    customer: Customer
    sites: list[Site]
    equipment: list[Equipment]
    open_orders: list[WorkOrder]


def customer_card(*, customer: Customer) -> CustomerCard:
    sites = list(customer.sites.all())
    equipment = list(
        Equipment.objects.filter(site__customer=customer).select_related("site", "required_skill").order_by("id")
    )
    open_orders = list(
        customer.work_orders.filter(status__in=OPEN_STATUSES).select_related("technician").order_by("-id")[:5]
    )
    return CustomerCard(customer=customer, sites=sites, equipment=equipment, open_orders=open_orders)


def callback_tasks_for_call(*, call: CallRecord) -> list[CallbackTask]:
    return list(call.callback_tasks.order_by("id"))


# --- the customer and their timeline -----------------------------------------------------------


def customer_get(*, customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("Customer %(id)s does not exist") % {"id": customer_id})
    return customer


@dataclass
class TimelineEntry:
    at: dt.datetime
    kind: str  # call | event | sms | callback | note | complaint | rating | reminder
    title: str
    text: str = ""
    work_order: WorkOrder | None = None
    state: str = ""  # SMS delivery, callback open/done
    alert: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def event_title(event: WorkOrderEvent) -> str:
    """What kind of event it was, in the user's language (a status change says from and to)."""
    if event.kind == EventKind.STATUS and event.to_status:
        before = STATUS_LABELS.get(event.from_status, event.from_status)
        after = STATUS_LABELS.get(event.to_status, event.to_status)
        return _("Status: %(before)s → %(after)s") % {"before": before, "after": after}
    return str(EVENT_LABELS.get(event.kind, event.kind))


def event_words(event: WorkOrderEvent) -> str:
    """One event of an order's log as a sentence in the user's language (its stored English
    text when it cannot be rendered: ``server.workorders.event_text``)."""
    label = event_title(event)
    sentence = event_text.event_sentence(event)
    return f"{label}: {sentence}" if sentence else label


def _care_entries(customer: Customer, *, limit: int) -> list[TimelineEntry]:
    """Staff notes, complaints (raised, repeated, cleared), ratings and consent answers
    (``server.care``), and maintenance reminders (``server.crm``)."""
    entries: list[TimelineEntry] = []
    for note in (
        CustomerNote.objects.filter(customer=customer)
        .select_related("author", "work_order")
        .order_by("-created_at")[:limit]
    ):
        entries.append(
            TimelineEntry(
                at=note.created_at,
                kind="note",
                title=_("Note by %(who)s") % {"who": note.author or _("staff")},
                text=note.text,
                work_order=note.work_order,
            )
        )
    for record in (
        ComplaintRecord.objects.filter(customer=customer).select_related("work_order").order_by("-created_at")[:limit]
    ):
        entries.append(
            TimelineEntry(
                at=record.created_at,
                kind="complaint",
                title=f"{record.get_action_display()} · {record.get_source_display()}",
                text=record.reason + (f" ({', '.join(record.words)})" if record.words else ""),
                work_order=record.work_order,
                alert=record.action != ComplaintAction.CLEARED,
                extra={"actor": record.actor_label},
            )
        )
    ratings = WorkOrderRating.objects.filter(work_order__customer=customer).select_related("work_order")
    for rating in ratings.order_by("-created_at")[:limit]:
        entries.append(
            TimelineEntry(
                at=rating.created_at,
                kind="rating",
                title=_("Rated %(stars)s of 5") % {"stars": rating.stars},
                text=rating.comment,
                work_order=rating.work_order,
                state="★" * rating.stars,
                alert=rating.stars <= 2,
            )
        )
    for answer in ConsentRecord.objects.filter(customer=customer).order_by("-at")[:limit]:
        entries.append(
            TimelineEntry(
                at=answer.at,
                kind="consent",
                title=_("Consent: %(kind)s") % {"kind": answer.get_kind_display()},
                text=answer.note,
                state=str(_("yes") if answer.given else _("no")) + " · " + str(answer.get_source_display()),
            )
        )
    for reminder in (
        Reminder.objects.filter(customer=customer)
        .select_related("equipment", "work_order")
        .order_by("-created_at")[:limit]
    ):
        entries.append(
            TimelineEntry(
                at=reminder.created_at,
                kind="reminder",
                title=_("Maintenance reminder: %(stage)s") % {"stage": reminder.get_stage_display()},
                text=_("%(equipment)s due on %(day)s")
                % {"equipment": reminder.equipment, "day": reminder.due_date.isoformat()},
                work_order=reminder.work_order,
            )
        )
    return entries


def customer_timeline(*, customer: Customer, limit: int = 500) -> list[TimelineEntry]:
    """Everything that happened with ``customer``, newest first: calls (every outcome), each
    order's events, SMS with their delivery state, callback tasks, staff notes, complaints,
    ratings, consent answers and maintenance reminders."""
    entries: list[TimelineEntry] = []
    for call in CallRecord.objects.filter(customer=customer).select_related("work_order").order_by("-id")[:limit]:
        outcome = OUTCOME_LABELS.get(call.outcome, call.outcome)
        caller = call.caller_phone or call.caller_raw or _("withheld number")
        entries.append(
            TimelineEntry(
                at=call.created_at,
                kind="call",
                title=_("Call from %(caller)s: %(outcome)s") % {"caller": caller, "outcome": outcome},
                text=call.reason,
                work_order=call.work_order,
                alert=call.outcome == CallOutcome.UNIDENTIFIED,
            )
        )
    events = (
        WorkOrderEvent.objects.filter(work_order__customer=customer)
        .select_related("work_order", "actor")
        .order_by("-created_at", "-id")[:limit]
    )
    for event in events:
        if _sms_shown_as_its_message(event):
            continue
        entries.append(
            TimelineEntry(
                at=event.created_at,
                kind="event",
                title=event_title(event),
                text=event_text.event_sentence(event),
                work_order=event.work_order,
                extra={"actor": event.actor_label or (str(event.actor) if event.actor else "")},
            )
        )
    for sms in SmsMessage.objects.filter(customer_id=customer.pk).order_by("-created_at")[:limit]:
        entries.append(
            TimelineEntry(
                at=sms.created_at,
                kind="sms",
                title=_("SMS to %(to)s") % {"to": sms.to},
                text=sms.body,
                state=str(SMS_STATUS_LABELS.get(sms.status, sms.status)),
                alert=sms.status == SmsMessage.Status.FAILED,
            )
        )
    for task in CallbackTask.objects.filter(customer=customer).select_related("done_by").order_by("-id")[:limit]:
        entries.append(
            TimelineEntry(
                at=task.created_at,
                kind="callback",
                title=_("Callback task"),
                text=task.reason,
                state=str(_("done") if task.done_at else _("open")),
                alert=task.done_at is None,
            )
        )
    entries.extend(_care_entries(customer, limit=limit))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


# --- search ------------------------------------------------------------------------------------


def _reference_id(text: str) -> int | None:
    match = _REFERENCE.match(text)
    return int(match.group(1)) if match else None


def customer_search(*, query: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers by phone (any format), name, address or a work-order number."""
    text = query.strip()
    if len(text) < 2:
        return []
    condition = Q(name__icontains=text) | Q(sites__address__icontains=text)
    phone = phone_to_e164_or_none(text)
    if phone:
        condition |= Q(phone=phone)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4:
        condition |= Q(phone__contains=digits)
    reference = _reference_id(text)
    if reference is not None:
        condition |= Q(work_orders__pk=reference)
    return list(
        Customer.objects.filter(condition, erased_at__isnull=True)
        .distinct()
        .prefetch_related("sites")
        .order_by("-id")[:limit]
    )


@dataclass
class WorkOrderFilters:
    query: str = ""
    status: str = ""
    priority: str = ""
    technician_id: int | None = None
    area: str = ""  # a district or street, matched in the site's address ("静安区")
    complaint: bool = False
    needs_review: bool = False
    at_risk: bool = False


# The most customers (and sites) a search looks at; a broader search is narrowed by typing more.
SEARCH_MATCHES = 1000


def _sms_shown_as_its_message(event: WorkOrderEvent) -> bool:
    """A plain "SMS queued" event: the timeline shows the message itself, with its delivery state.
    Events that say more (not sent and why, held for the morning, a reply) stay."""
    data = event.data or {}
    return (
        event.kind == EventKind.SMS
        and bool(data.get("sms_id"))
        and not data.get("reason")
        and not data.get("not_before")
        and data.get("direction") != "in"
    )


def work_order_search(*, filters: WorkOrderFilters) -> QuerySet[WorkOrder]:
    """The work-order list: searched by WO number ("WO-000001" or "1"), phone in any format,
    name or address, and filtered; orders with a complaint first, then newest first."""
    queryset = WorkOrder.objects.select_related("customer", "site", "technician")
    text = filters.query.strip()
    if text:
        # The matching customers and sites first, each table searched on its own, then their orders
        # through the foreign-key indexes: one OR across the joined tables made the database read
        # every order (about 430 ms with 200,000 orders; bench/console_pages.py).
        who = Q(name__icontains=text)
        phone = phone_to_e164_or_none(text)
        if phone:
            who |= Q(phone=phone)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 4:
            who |= Q(phone__contains=digits)
        customer_ids = list(Customer.objects.filter(who).values_list("pk", flat=True)[:SEARCH_MATCHES])
        site_ids = list(Site.objects.filter(address__icontains=text).values_list("pk", flat=True)[:SEARCH_MATCHES])
        condition = Q(customer_id__in=customer_ids) | Q(site_id__in=site_ids)
        reference = _reference_id(text)
        if reference is not None:
            condition |= Q(pk=reference)
        queryset = queryset.filter(condition)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.priority:
        queryset = queryset.filter(priority=filters.priority)
    if filters.technician_id:
        queryset = queryset.filter(technician_id=filters.technician_id)
    if filters.area.strip():
        queryset = queryset.filter(site__address__icontains=filters.area.strip())
    if filters.complaint:
        queryset = queryset.filter(Q(complaint=True) | Q(customer__complaint_open=True))
    if filters.needs_review:
        queryset = queryset.filter(needs_review=True)
    if filters.at_risk:
        queryset = queryset.filter(promise_at_risk=True)
    # A complaint moves its order to the top of the list (until staff clear it), newest first.
    return queryset.order_by("-complaint", "-id")


def work_order_detail(*, work_order_id: int) -> WorkOrder:
    work_order = (
        WorkOrder.objects.select_related("customer", "site", "equipment", "technician", "required_skill")
        .filter(pk=work_order_id)
        .first()
    )
    if work_order is None:
        raise NotFound(_("Work order %(id)s does not exist") % {"id": work_order_id})
    return work_order


def work_order_events(*, work_order: WorkOrder) -> list[WorkOrderEvent]:
    return list(work_order.events.select_related("actor").order_by("created_at", "id"))


@dataclass
class WorkOrderPhotos:
    """An order's photos as the detail page shows them: the stored ones, and how far the
    unfinished uploads from the phone have come (all of them together)."""

    complete: list[WorkOrderPhoto]
    uploading: int
    uploading_percent: int


def work_order_photos(*, work_order: WorkOrder) -> WorkOrderPhotos:
    """The order's photos (two queries: the stored ones with their technicians, the unfinished)."""
    complete = list(
        WorkOrderPhoto.objects.filter(work_order=work_order, completed_at__isnull=False)
        .exclude(file="")
        .select_related("technician")
        .order_by("completed_at", "id")
    )
    unfinished = list(
        WorkOrderPhoto.objects.filter(work_order=work_order, completed_at__isnull=True).values_list("received", "size")
    )
    received = sum(row[0] for row in unfinished)
    size = sum(row[1] for row in unfinished)
    # Rounded down: "100%" only once the last upload is stored (then it is no longer unfinished).
    percent = min(received * 100 // size, 99) if size else 0
    return WorkOrderPhotos(complete=complete, uploading=len(unfinished), uploading_percent=percent)


def work_order_photo_get(*, work_order_id: int, photo_id: int) -> WorkOrderPhoto:
    """One stored photo of one order; an unknown photo, another order's or one still uploading
    is not found. The file is the one the upload service stored (its name comes from the row)."""
    photo = (
        WorkOrderPhoto.objects.filter(pk=photo_id, work_order_id=work_order_id, completed_at__isnull=False)
        .exclude(file="")
        .first()
    )
    if photo is None:
        raise NotFound(_("Photo %(id)s does not exist") % {"id": photo_id})
    return photo


def technicians_active() -> list[Technician]:
    return list(Technician.objects.filter(active=True).order_by("name"))


def skills_all() -> list[Skill]:
    return list(Skill.objects.order_by("name"))


# --- the assignment explanation in words -------------------------------------------------------


def explanation_sentences(explanation: dict[str, Any] | None) -> list[str]:
    """The optimizer's comparison of technicians (``assignment_explanation``) as sentences."""
    return event_text.explanation_sentences(explanation)
