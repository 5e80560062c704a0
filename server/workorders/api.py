"""Work-order endpoints: the technician app's (``/api/mobile``) and staff's (``/api/work-orders``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from ninja import Router

from server.accounts.roles import require_staff
from server.common.schemas import BODY_ERRORS, DbId, IsoDate, errors
from server.common.types import ApiRequest
from server.technicians.selectors import technician_for_user
from server.workorders import selectors, services, state_machine
from server.workorders.models import Status, WorkOrder
from server.workorders.schemas import (
    DeviceEventIn,
    DeviceEventOut,
    JobListOut,
    JobOut,
    TransitionIn,
    WorkOrderOut,
)

mobile_router = Router(tags=["technician app"])

# How far ahead "today's jobs" reaches: a shift that runs past midnight sees its jobs after it.
UPCOMING_JOBS = dt.timedelta(hours=12)
router = Router(tags=["work orders"])

# What a staff change on one order can answer: its body, who may, which order, the state machine.
STAFF_CHANGE_ERRORS = errors(401, 403, 404, 409, *BODY_ERRORS)
STAFF_ACTION_ERRORS = errors(401, 403, 404, 409, 422)


def _job_out(work_order: WorkOrder) -> dict[str, Any]:
    site, customer, equipment = work_order.site, work_order.customer, work_order.equipment
    # What a technician needs before the doorbell: what happened to the order and what people
    # said. Not the dispatcher's reasoning (the "why" notes) nor the planned times of past plans,
    # which go stale as the day is re-planned (the job's own planned arrival is current).
    history = [
        {"at": event.created_at, "kind": event.kind, "text": event.text}
        for event in selectors.work_order_events(work_order=work_order)
        if event.kind in ("created", "status", "call", "note") and "explanation" not in event.data
    ]
    history += [
        {
            "at": earlier.created_at,
            "kind": "earlier_order",
            "text": f"{earlier.reference} ({Status(earlier.status).label}): {earlier.problem[:120]}",
        }
        for earlier in selectors.site_history(work_order=work_order)
    ]
    return {
        "id": work_order.pk,
        "reference": work_order.reference,
        "status": work_order.status,
        "status_label": Status(work_order.status).label,
        "customer_name": customer.name or customer.phone or "",
        "customer_phone": customer.phone or "",
        "address": site.address if site else "",
        "latitude": site.latitude if site else None,
        "longitude": site.longitude if site else None,
        "problem": work_order.problem,
        "priority": work_order.priority,
        "equipment": {
            "type": equipment.equipment_type,
            "model": equipment.model,
            "install_date": equipment.install_date,
        }
        if equipment
        else None,
        "planned_arrival": work_order.planned_arrival,
        "route_position": work_order.route_position,
        "promised_start": work_order.promised_start,
        "promised_end": work_order.promised_end,
        "allowed_actions": state_machine.allowed_actions(work_order.status),
        "history": history,
    }


def work_order_out(work_order: WorkOrder) -> dict[str, Any]:
    technician = work_order.technician
    return {
        "id": work_order.pk,
        "reference": work_order.reference,
        "status": work_order.status,
        "priority": work_order.priority,
        "customer_id": work_order.customer_id,
        "customer_name": work_order.customer.name,
        "customer_phone": work_order.customer.phone or "",
        "site_id": work_order.site_id,
        "address": work_order.site.address if work_order.site else "",
        "problem": work_order.problem,
        "required_skill": work_order.required_skill.code if work_order.required_skill else None,
        "needs_review": work_order.needs_review,
        "technician_id": technician.pk if technician else None,
        "technician_name": technician.name if technician else None,
        "scheduled_day": work_order.scheduled_day,
        "planned_arrival": work_order.planned_arrival,
        "route_position": work_order.route_position,
        "promised_start": work_order.promised_start,
        "promised_end": work_order.promised_end,
        "promise_at_risk": work_order.promise_at_risk,
        "promise_risk_reason": work_order.promise_risk_reason,
        "pinned": work_order.pinned,
        "pinned_start": work_order.pinned_start,
        "hold_reason": work_order.hold_reason,
        "follow_up_on": work_order.follow_up_on,
        "version": work_order.version,
        "explanation": work_order.assignment_explanation,
        "events": [
            {
                "at": e.created_at,
                "kind": e.kind,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor": e.actor_label,
                "text": e.text,
                "device_time": e.device_time,
                "data": e.data,
            }
            for e in selectors.work_order_events(work_order=work_order)
        ],
    }


@mobile_router.get("/jobs", response={200: JobListOut, **errors(401, 403, 422)})
def work_order_list_for_technician(request: ApiRequest, day: IsoDate | None = None) -> dict[str, Any]:
    """The technician's jobs: the given day's, or without one today's and the next hours' (a shift
    that runs past midnight sees its jobs after midnight), in route order."""
    technician = technician_for_user(user=request.auth)
    upcoming_until = None if day else timezone.now() + UPCOMING_JOBS
    day = day or timezone.localdate()
    jobs = selectors.work_order_list_for_technician(technician=technician, day=day, upcoming_until=upcoming_until)
    return {
        "technician": {"id": technician.pk, "name": technician.name},
        "day": day,
        "jobs": [_job_out(job) for job in jobs],
    }


@mobile_router.get("/jobs/{work_order_id}", response={200: JobOut, **errors(401, 403, 404, 422)})
def work_order_get(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    technician_for_user(user=request.auth)
    return _job_out(selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order_id))


@mobile_router.post("/events", response={200: DeviceEventOut, **errors(401, 403, 404, 409, *BODY_ERRORS)})
def work_order_technician_event(request: ApiRequest, payload: DeviceEventIn) -> dict[str, Any]:
    technician = technician_for_user(user=request.auth)
    # Another technician's order answers 404 like a missing one (the service checks again under its lock).
    selectors.work_order_get_for_tap(
        user=request.auth, work_order_id=payload.work_order_id, client_event_id=payload.client_event_id
    )
    work_order, duplicate = services.work_order_technician_event(
        technician=technician,
        client_event_id=payload.client_event_id,
        work_order_id=payload.work_order_id,
        action=payload.action,
        device_time=payload.device_time,
        latitude=payload.latitude,
        longitude=payload.longitude,
        reason=payload.reason,
        note=payload.note,
    )
    work_order = selectors.work_order_get_for_tap(
        user=request.auth, work_order_id=work_order.pk, client_event_id=payload.client_event_id
    )
    return {"duplicate": duplicate, "job": _job_out(work_order)}


@router.get("/{work_order_id}", response={200: WorkOrderOut, **errors(401, 404, 422)})
def work_order_get_staff(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    return work_order_out(selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order_id))


@router.post("/{work_order_id}/transition", response={200: WorkOrderOut, **STAFF_CHANGE_ERRORS})
def work_order_transition(request: ApiRequest, work_order_id: DbId, payload: TransitionIn) -> dict[str, Any]:
    require_staff(request.auth)
    services.work_order_transition(
        work_order_id=work_order_id, to_status=payload.to_status, actor=request.auth, text=payload.note
    )
    return work_order_out(selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order_id))
