"""A phone call becomes a work order, or joins the caller's open one.

Nothing a phone system sends is refused once its call id is known: a webhook cannot fix its
payload and a refused call is a lost customer. Text is cleaned and cut to fit (``server.common
.text``), a caller ID that is withheld or not a phone number gets an order for staff and a
callback task, and a call id that cannot be stored as it is is stored as its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from server.care import services as care_services
from server.care.models import CallbackKind, ComplaintSource
from server.common.db import retry_transaction
from server.common.exceptions import ValidationFailed
from server.common.phones import phone_to_e164, phone_to_e164_or_none
from server.common.text import PROBLEM_MAX_LENGTH, json_clean, text_clean, text_is_clean
from server.customers import services as customer_services
from server.customers.geocoding import GeocodeResult, address_geocode
from server.customers.models import Customer, Equipment, Site
from server.intake import menu
from server.intake.models import CallOutcome, CallRecord
from server.scheduling import services as scheduling_services
from server.technicians.models import Skill
from server.workorders import services as work_order_services
from server.workorders.models import OPEN_STATUSES, EventKind, Priority, Source, WorkOrder

logger = logging.getLogger(__name__)

# What phone systems send instead of a number when the caller withheld it. Twilio sends words or
# one of its placeholder numbers (+266696687 spells ANONYMOUS on a keypad); these are not
# numbers anyone can be called back on, even should the numbering plans ever make them valid.
WITHHELD_CALLER_IDS = frozenset({
    "anonymous", "restricted", "unknown", "private", "unavailable", "withheld", "blocked",
    "+266696687", "+86282452253", "+8656696", "+7378742833", "+2562533",
})  # fmt: skip


def _max_length(field: str, *, model: type[models.Model] = CallRecord) -> int:
    """The column's length, so text is cut to what the model stores."""
    column = model._meta.get_field(field)
    assert isinstance(column, models.CharField)
    assert column.max_length is not None
    return column.max_length


@dataclass(frozen=True)
class CallResult:
    call: CallRecord
    work_order: WorkOrder
    repeated_request: bool  # the phone system sent this call id before

    @property
    def unidentified(self) -> bool:
        """The caller ID could not be used: staff call back (a callback task is open)."""
        return self.call.outcome == CallOutcome.UNIDENTIFIED


@dataclass(frozen=True)
class _CallText:
    """What the phone system sent, cleaned and cut to the columns it is stored in."""

    caller: str  # whole (a number padded with spaces still parses); caller_raw is the stored cut
    caller_raw: str
    called: str
    call_status: str
    ivr_digits: str
    reason: str  # whole, for the problem text, which has its own limit
    reason_short: str

    @classmethod
    def of(cls, *, caller: str, called: str, call_status: str, ivr_digits: str, reason: str) -> _CallText:
        caller = text_clean(caller, max_length=None).strip()
        reason = text_clean(reason, max_length=None).strip()
        return cls(
            caller=caller,
            caller_raw=text_clean(caller, max_length=_max_length("caller_raw")),
            called=text_clean(called, max_length=_max_length("called_number")).strip(),
            call_status=text_clean(call_status, max_length=_max_length("call_status")).strip(),
            ivr_digits=text_clean(ivr_digits, max_length=_max_length("ivr_digits")).strip(),
            reason=reason,
            reason_short=text_clean(reason, max_length=_max_length("reason")),
        )


def call_key(call_id: str) -> str:
    """The call id as stored: itself, or ``sha256:<hex>`` of it when it is too long for the column
    or holds characters text cannot keep (NUL, lone surrogates, controls).

    The call id is the idempotency key, so it is never cut or cleaned (two ids could become one):
    the hash keeps "the same call id twice is one call" true for any id. Empty is refused.
    """
    key = call_id.strip()
    if not key:
        raise ValidationFailed("The call has no call id")
    if len(key) <= _max_length("call_id") and text_is_clean(key):
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def caller_phone_for(caller: str) -> str | None:
    """The caller's number as E.164, or ``None`` when it was withheld or is not a phone number."""
    if caller.strip().lower() in WITHHELD_CALLER_IDS:
        return None
    return phone_to_e164_or_none(caller)


def work_order_create_and_dispatch(**create_kwargs: Any) -> WorkOrder:
    """Create an order and place it at once; the caller gets the assignment back.

    An order whose site has no coordinates (none typed, geocoding off or failed) cannot be
    placed: it is saved, left NEW and flagged for review, where staff add the location.
    """
    site = create_kwargs.get("site")
    if site is None or not site.has_location:
        create_kwargs["needs_review"] = True
    with transaction.atomic(savepoint=False):
        work_order = work_order_services.work_order_create(**create_kwargs)
        return scheduling_services.work_order_dispatch(work_order_id=work_order.pk)


def _open_order_for(customer: Customer, *, now: dt.datetime) -> WorkOrder | None:
    since = now - dt.timedelta(days=settings.INTAKE_REPEAT_CALL_DAYS)
    return (
        WorkOrder.objects.select_for_update(no_key=True)
        .filter(customer=customer, status__in=OPEN_STATUSES, created_at__gte=since)
        .order_by("-created_at")
        .first()
    )


def _problem_text(*, reason: str, ivr_digits: str) -> str:
    choice = f"IVR choice: {ivr_digits}" if ivr_digits else ""
    room = PROBLEM_MAX_LENGTH - (len(choice) + 1 if choice else 0)
    parts = [text_clean(reason, max_length=room)] if reason else []
    if choice:
        parts.append(choice)
    return "\n".join(parts) or "Reported by phone; details to be completed"


def _repeated(call: CallRecord) -> CallResult:
    """The answer the first request for this call id got (a recorded call has its order)."""
    assert call.work_order is not None
    return CallResult(call=call, work_order=call.work_order, repeated_request=True)


def call_receive(
    *,
    provider: str,
    call_id: str,
    caller: str,
    called: str = "",
    call_status: str = "",
    ivr_digits: str = "",
    reason: str = "",
    payload: dict[str, Any] | None = None,
) -> CallResult:
    """Record an inbound call and turn it into a work order.

    The same (provider, call id) twice returns the first result; only an empty call id is
    refused (``ValidationFailed``), before anything is written. A known customer with an open
    order from the last ``INTAKE_REPEAT_CALL_DAYS`` days gets the call added to that order;
    anyone else gets a new order, dispatched at once. An unknown number creates a customer and an
    order flagged for staff to complete. A caller ID that is withheld or not a phone number is
    recorded too (outcome "unidentified"): an order flagged for staff and a callback task.
    Text is cleaned and cut to fit (see ``_CallText``); the problem takes ``PROBLEM_MAX_LENGTH``.
    """
    key = call_key(call_id)
    existing = CallRecord.objects.filter(provider=provider, call_id=key).select_related("work_order").first()
    if existing is not None:
        return _repeated(existing)
    text = _CallText.of(caller=caller, called=called, call_status=call_status, ivr_digits=ivr_digits, reason=reason)
    caller_phone = caller_phone_for(text.caller)
    stored_payload = json_clean(payload or {})
    for attempt in (1, 2):
        try:
            return _call_record_new(
                provider=provider, call_id=key, text=text, caller_phone=caller_phone, payload=stored_payload
            )
        except IntegrityError:
            # The phone system retried while the first request was still being handled.
            existing = CallRecord.objects.filter(provider=provider, call_id=key).select_related("work_order").first()
            if existing is not None:
                return _repeated(existing)
            if attempt == 2:
                raise
            # Another unique row raced this call (the whole transaction was rolled back): once more.
            logger.warning("Call %s:%s lost a race on another row; recording it again", provider, key)
    raise AssertionError("unreachable")


def _customer_for_caller(phone: str) -> Customer:
    """The caller's customer, locked; an unknown number creates one flagged for staff.

    Calls from a new number can arrive together (a caller redialling, a phone system retrying
    on another line): the loser's insert fails on the unique phone inside a savepoint, which
    undoes only that insert, and the call takes the winner's customer.
    """
    customer = Customer.objects.select_for_update(no_key=True).filter(phone=phone).first()
    if customer is not None:
        return customer
    try:
        with transaction.atomic():
            return Customer.objects.create(phone=phone, needs_review=True)
    except IntegrityError:
        return Customer.objects.select_for_update(no_key=True).get(phone=phone)


@retry_transaction
@transaction.atomic
def _call_record_new(
    *, provider: str, call_id: str, text: _CallText, caller_phone: str | None, payload: dict[str, Any]
) -> CallResult:
    now = timezone.now()
    call = CallRecord.objects.create(
        provider=provider,
        call_id=call_id,
        caller_raw=text.caller_raw,
        caller_phone=caller_phone or "",
        called_number=text.called,
        call_status=text.call_status,
        ivr_digits=text.ivr_digits,
        reason=text.reason_short,
        payload=payload,
    )
    if caller_phone is None:
        return _call_unidentified(call, text=text)
    customer = _customer_for_caller(caller_phone)
    label = f"Call from {caller_phone}"
    open_order = _open_order_for(customer, now=now)
    if open_order is not None:
        work_order_services.work_order_note(
            work_order=open_order,
            kind=EventKind.CALL,
            text=f"{label} joined this order"
            + (f": {_problem_text(reason=text.reason, ivr_digits='')}" if text.reason else ""),
            actor_label=provider,
            data={
                "call_id": call_id,
                "provider": provider,
                "caller": caller_phone,
                "problem": _problem_text(reason=text.reason, ivr_digits="") if text.reason else "",
            },
        )
        call.customer, call.work_order, call.outcome = customer, open_order, CallOutcome.JOINED
        call.save(update_fields=["customer", "work_order", "outcome", "updated_at"])
        _complaint_check(call, text=text)
        return CallResult(call=call, work_order=open_order, repeated_request=False)
    site = customer.sites.first()
    # The caller's menu choice picks their matching equipment and its skill (else the only one).
    pick = menu.menu_pick(site=site, digits=text.ivr_digits)
    needs_review = customer.needs_review or site is None
    work_order = work_order_create_and_dispatch(
        customer=customer,
        site=site,
        equipment=pick.equipment,
        problem=_problem_text(reason=text.reason, ivr_digits=text.ivr_digits),
        required_skill=pick.skill,
        source=Source.PHONE,
        needs_review=needs_review,
        actor_label=provider,
        note=f"{label} (call {call_id})"
        + (" — unknown caller, staff must complete the customer and address" if needs_review else ""),
        note_data={"call_id": call_id, "caller": caller_phone, "provider": provider, "unknown_caller": needs_review},
    )
    menu.menu_pick_record(work_order=work_order, call=call, pick=pick)
    call.customer, call.work_order, call.outcome = customer, work_order, CallOutcome.CREATED
    call.save(update_fields=["customer", "work_order", "outcome", "updated_at"])
    _complaint_check(call, text=text)
    return CallResult(call=call, work_order=work_order, repeated_request=False)


def _complaint_check(call: CallRecord, *, text: _CallText) -> None:
    """A complaint in what the caller said (the reason the phone system sent) moves their order up.

    Inside the call's transaction, after the order is placed: the customer row is already locked,
    and a complaint raises the priority and asks for a re-plan (``server.care``). Unidentified
    callers are not checked: their order waits for staff, who call them back anyway.
    """
    if not text.reason or call.customer is None:
        return
    care_services.complaint_check(
        customer=call.customer,
        work_order=call.work_order,
        text=text.reason,
        source=ComplaintSource.CALL,
        actor_label=call.provider,
    )


def _call_unidentified(call: CallRecord, *, text: _CallText) -> CallResult:
    """A caller we cannot name: a customer of their own (no phone), an order and a callback task.

    Never joined to another order: two withheld numbers are not the same person.
    """
    shown = repr(text.caller_raw) if text.caller_raw else "none"
    customer = Customer.objects.create(
        needs_review=True, notes=f"Created from {call.provider} call {call.call_id}; caller ID {shown}"
    )
    work_order = work_order_services.work_order_create(
        customer=customer,
        problem=_problem_text(reason=text.reason, ivr_digits=text.ivr_digits),
        source=Source.PHONE,
        needs_review=True,
        actor_label=call.provider,
        note=f"Call {call.call_id} from an unidentified caller (caller ID {shown})",
        note_data={"call_id": call.call_id, "provider": call.provider, "unidentified": True, "caller_raw": shown},
    )
    reason = (
        f"The caller ID was withheld or is not a phone number ({shown}): call the customer back "
        "to take their name, number and address"
    )
    task = care_services.callback_task_create(
        kind=CallbackKind.UNIDENTIFIED,
        reason=reason,
        customer=customer,
        work_order=work_order,
        call_id=call.pk,
        caller_raw=text.caller_raw,
    )
    work_order_services.work_order_note(
        work_order=work_order,
        kind=EventKind.CALL,
        text=f"Callback needed: {reason}",
        actor_label=call.provider,
        data={"call_id": call.call_id, "provider": call.provider, "callback_task": task.pk, "caller_raw": shown},
    )
    call.customer, call.work_order, call.outcome = customer, work_order, CallOutcome.UNIDENTIFIED
    call.save(update_fields=["customer", "work_order", "outcome", "updated_at"])
    return CallResult(call=call, work_order=work_order, repeated_request=False)


def repair_log(
    *,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    site_id: int | None = None,
    **fields: Any,
) -> WorkOrder:
    """Call-center staff log a repair by hand: find or create the customer and site, then dispatch.

    A typed address without coordinates is geocoded first, outside the transaction, so a slow
    geocoder never holds row locks; a site still without coordinates is flagged for review and
    so is its order.
    """
    geocoded = None
    if site_id is None and address.strip() and latitude is None and longitude is None:
        geocoded = address_geocode(address)
    return _repair_log(
        address=address, latitude=latitude, longitude=longitude, site_id=site_id, geocoded=geocoded, **fields
    )


@retry_transaction
@transaction.atomic
def _repair_log(
    *,
    geocoded: GeocodeResult | None,
    actor: Any,
    problem: str,
    customer_id: int | None = None,
    phone: str | None = None,
    customer_name: str = "",
    site_id: int | None = None,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    equipment_id: int | None = None,
    priority: str = "normal",
    required_skill: str | None = None,
    service_minutes: int | None = None,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
    complaint: bool = False,
) -> WorkOrder:
    """Call-center staff log a repair by hand: find or create the customer and site, then dispatch."""
    if priority not in Priority.values:
        raise ValidationFailed(f"Unknown priority '{priority}'", extra={"allowed": Priority.values})
    if customer_id is not None:
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise ValidationFailed(f"Customer {customer_id} does not exist")
    elif phone:
        e164 = phone_to_e164(phone)
        customer = Customer.objects.filter(phone=e164).first()
        if customer is None:
            if not customer_name.strip():
                raise ValidationFailed("A new customer needs a name", extra={"phone": e164})
            customer = Customer.objects.create(phone=e164, name=customer_name.strip())
    else:
        raise ValidationFailed("Give customer_id or phone")
    site: Site | None
    if site_id is not None:
        site = Site.objects.filter(pk=site_id, customer=customer).first()
        if site is None:
            raise ValidationFailed(f"Site {site_id} is not a site of this customer")
    elif address.strip():
        site = customer_services.site_create(
            customer=customer,
            address=address,
            latitude=latitude,
            longitude=longitude,
            geocode=False,
            geocoded=geocoded,
        )
    else:
        site = customer.sites.first()
    equipment = None
    if equipment_id is not None:
        equipment = Equipment.objects.filter(pk=equipment_id, site=site).first()
        if equipment is None:
            raise ValidationFailed(f"Equipment {equipment_id} is not at this site")
    skill = None
    if required_skill:
        skill = Skill.objects.filter(code=required_skill).first()
        if skill is None:
            raise ValidationFailed(
                f"Unknown skill '{required_skill}'",
                extra={"allowed": list(Skill.objects.values_list("code", flat=True))},
            )
    elif equipment is not None:
        skill = equipment.required_skill
    work_order = work_order_create_and_dispatch(
        customer=customer,
        site=site,
        equipment=equipment,
        problem=problem,
        priority=priority,
        required_skill=skill,
        service_minutes=service_minutes,
        source=Source.MANUAL,
        window_start=window_start,
        window_end=window_end,
        actor=actor,
    )
    if complaint:
        # Staff marking the repair a complaint is a complaint like any other: the customer and the
        # order turn red, the order moves up a step and a supervisor calls back.
        care_services.complaint_raise(
            customer=customer,
            work_order=work_order,
            reason="Marked as a complaint when the repair was logged",
            source=ComplaintSource.STAFF,
            actor=actor if isinstance(actor, User) else None,
        )
        work_order.refresh_from_db()
    return work_order
