"""A phone call becomes a work order, or joins the caller's open one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from server.common.db import retry_transaction
from server.common.exceptions import ValidationFailed
from server.common.phones import phone_to_e164
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallOutcome, CallRecord
from server.scheduling import services as scheduling_services
from server.technicians.models import Skill
from server.workorders import services as work_order_services
from server.workorders.models import OPEN_STATUSES, EventKind, Priority, Source, WorkOrder


@dataclass(frozen=True)
class CallResult:
    call: CallRecord
    work_order: WorkOrder
    repeated_request: bool  # the phone system sent this call id before


def _open_order_for(customer: Customer, *, now: dt.datetime) -> WorkOrder | None:
    since = now - dt.timedelta(days=settings.INTAKE_REPEAT_CALL_DAYS)
    return (
        WorkOrder.objects.select_for_update(no_key=True)
        .filter(customer=customer, status__in=OPEN_STATUSES, created_at__gte=since)
        .order_by("-created_at")
        .first()
    )


def _problem_text(*, reason: str, ivr_digits: str) -> str:
    parts = [reason.strip()] if reason.strip() else []
    if ivr_digits:
        parts.append(f"IVR choice: {ivr_digits}")
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

    The same (provider, call id) twice returns the first result. A caller ID that is not a phone
    number raises ``InvalidPhoneNumber`` before anything is written. A known customer with an
    open order from the last ``INTAKE_REPEAT_CALL_DAYS`` days gets the call added to that order;
    anyone else gets a new order, dispatched at once. An unknown number creates a customer and an
    order flagged for staff to complete.
    """
    call_id = call_id.strip()
    if not call_id:
        raise ValidationFailed("The call has no call id")
    existing = CallRecord.objects.filter(provider=provider, call_id=call_id).select_related("work_order").first()
    if existing is not None:
        return _repeated(existing)
    caller_phone = phone_to_e164(caller)
    try:
        return _call_record_new(
            provider=provider, call_id=call_id, caller=caller, caller_phone=caller_phone, called=called,
            call_status=call_status, ivr_digits=ivr_digits, reason=reason, payload=payload or {},
        )
    except IntegrityError:
        # The phone system retried while the first request was still being handled.
        existing = CallRecord.objects.select_related("work_order").get(provider=provider, call_id=call_id)
        return _repeated(existing)


@retry_transaction
@transaction.atomic
def _call_record_new(
    *, provider: str, call_id: str, caller: str, caller_phone: str, called: str, call_status: str,
    ivr_digits: str, reason: str, payload: dict[str, Any],
) -> CallResult:
    now = timezone.now()
    call = CallRecord.objects.create(
        provider=provider, call_id=call_id, caller_raw=caller, caller_phone=caller_phone,
        called_number=called, call_status=call_status, ivr_digits=ivr_digits, reason=reason[:300],
        payload=payload,
    )
    customer = Customer.objects.select_for_update(no_key=True).filter(phone=caller_phone).first()
    label = f"Call from {caller_phone}"
    if customer is not None:
        open_order = _open_order_for(customer, now=now)
        if open_order is not None:
            work_order_services.work_order_note(
                work_order=open_order,
                kind=EventKind.CALL,
                text=f"{label} joined this order" + (f": {reason.strip()}" if reason.strip() else ""),
                actor_label=provider,
                data={"call_id": call_id, "provider": provider},
            )
            call.customer, call.work_order, call.outcome = customer, open_order, CallOutcome.JOINED
            call.save(update_fields=["customer", "work_order", "outcome", "updated_at"])
            return CallResult(call=call, work_order=open_order, repeated_request=False)
    else:
        customer = Customer.objects.create(phone=caller_phone, needs_review=True)
    site = customer.sites.first()
    equipment = site.equipment.first() if site is not None and site.equipment.count() == 1 else None
    needs_review = customer.needs_review or site is None
    work_order = scheduling_services.work_order_create_and_dispatch(
        customer=customer,
        site=site,
        equipment=equipment,
        problem=_problem_text(reason=reason, ivr_digits=ivr_digits),
        required_skill=equipment.required_skill if equipment is not None else None,
        source=Source.PHONE,
        needs_review=needs_review,
        actor_label=provider,
        note=f"{label} (call {call_id})"
        + (" — unknown caller, staff must complete the customer and address" if needs_review else ""),
    )
    call.customer, call.work_order, call.outcome = customer, work_order, CallOutcome.CREATED
    call.save(update_fields=["customer", "work_order", "outcome", "updated_at"])
    return CallResult(call=call, work_order=work_order, repeated_request=False)


@retry_transaction
@transaction.atomic
def repair_log(
    *,
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
        if (latitude is None) != (longitude is None):
            raise ValidationFailed("Give both latitude and longitude, or neither")
        site = Site.objects.create(
            customer=customer, address=address.strip(), latitude=latitude, longitude=longitude,
            is_primary=not customer.sites.exists(),
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
    return scheduling_services.work_order_create_and_dispatch(
        customer=customer, site=site, equipment=equipment, problem=problem, priority=priority,
        required_skill=skill, service_minutes=service_minutes, source=Source.MANUAL,
        window_start=window_start, window_end=window_end, complaint=complaint,
        needs_review=site is None, actor=actor,
    )
