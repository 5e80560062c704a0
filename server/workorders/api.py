"""Work-order endpoints: the technician app's (``/api/mobile``) and staff's (``/api/work-orders``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from ninja import Router
from ninja.renderers import JSONRenderer
from pydantic import Field

from server.accounts.roles import require_staff
from server.common.schemas import BODY_ERRORS, DbId, IsoDate, errors
from server.common.types import ApiRequest
from server.technicians.selectors import technician_for_user
from server.workorders import event_text, selectors, services, state_machine
from server.workorders.models import Status, WorkOrder, WorkOrderPhoto
from server.workorders.schemas import (
    DeviceEventIn,
    DeviceEventOut,
    EventBatchIn,
    EventBatchOut,
    JobListOut,
    JobOut,
    LocationIn,
    LocationOut,
    PhotoStartIn,
    PhotoStateOut,
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


def _job_out(work_order: WorkOrder, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """One job for the app, its words in the active language (the request's Accept-Language)."""
    site, customer, equipment = work_order.site, work_order.customer, work_order.equipment
    # What a technician needs before the doorbell: what happened to the order and what people
    # said. Not the dispatcher's reasoning (the "why" notes) nor the planned times of past plans,
    # which go stale as the day is re-planned (the job's own planned arrival is current).
    # Earlier orders at the site are ``site_visits``, not history lines.
    history = [
        {"at": event.created_at, "kind": event.kind, "text": event_text.event_sentence(event)}
        for event in selectors.work_order_events(work_order=work_order)
        if event.kind in ("created", "status", "call", "note") and "explanation" not in event.data
    ]
    eta = None
    if work_order.status == Status.EN_ROUTE:
        # The window the customer's texts use, from where the technician is now.
        arrival = services.work_order_eta(work_order, now=now or timezone.now())
        eta = services.eta_window(arrival[0], travel=arrival[1]) if arrival is not None else None
    return {
        "id": work_order.pk,
        "reference": work_order.reference,
        "status": work_order.status,
        "status_label": _status_label(work_order.status),
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
        "access_notes": site.access_notes if site else "",
        "complaint": work_order.complaint or customer.complaint_open,
        "eta_start": eta[0] if eta else None,
        "eta_end": eta[1] if eta else None,
        "resolution": work_order.resolution,
        "parts": work_order.parts_used or [],
        "photos": [
            {"client_photo_id": photo.client_photo_id, "complete": photo.complete}
            for photo in selectors.work_order_photos(work_order=work_order)
        ],
        "site_visits": [
            {
                "reference": earlier.reference,
                "status_label": _status_label(earlier.status),
                "problem": earlier.problem[:SITE_VISIT_PROBLEM_CHARS],
                "resolution": earlier.resolution,
                "finished_at": earlier.completed_at if earlier.status == Status.COMPLETED else None,
                "technician_name": earlier.technician.name if earlier.technician else "",
            }
            for earlier in selectors.site_history(work_order=work_order)
        ],
    }


# An earlier visit's problem as the job shows it (the whole text is on that order).
SITE_VISIT_PROBLEM_CHARS = 300


def _status_label(status: str) -> str:
    # The model's labels stay English (stored event texts are built from them); these are gettext'd.
    return str(event_text.STATUS_WORDS.get(status, status))


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


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match`` names this ETag (weak comparison, as RFC 9110 asks for it) or is ``*``."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@mobile_router.get(
    "/jobs",
    response={200: JobListOut, 304: None, **errors(401, 403, 422)},
    description=(
        "Answers with a strong `ETag` (a hash of the body). Send it back as `If-None-Match`: while "
        "nothing the technician sees changed (a job new, changed, re-timed, withdrawn, its status or "
        "history) the answer is 304 with no body."
    ),
)
def work_order_list_for_technician(request: ApiRequest, day: IsoDate | None = None) -> HttpResponse | dict[str, Any]:
    """The technician's jobs: the given day's, or without one today's and the next hours' (a shift
    that runs past midnight sees its jobs after midnight), in route order."""
    technician = technician_for_user(user=request.auth)
    now = timezone.now()
    upcoming_until = None if day else now + UPCOMING_JOBS
    day = day or timezone.localdate()
    jobs = selectors.work_order_list_for_technician(technician=technician, day=day, upcoming_until=upcoming_until)
    data = {
        "technician": {"id": technician.pk, "name": technician.name},
        "day": day,
        "jobs": [_job_out(job, now=now) for job in jobs],
    }
    # The body as Ninja would send it, so that its hash is the ETag of exactly these bytes.
    body = _JSON.render(request, JobListOut.model_validate(data).model_dump(), response_status=200).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    response: HttpResponse = (
        HttpResponseNotModified()
        if _etag_matches(request.headers.get("If-None-Match", ""), etag)
        else HttpResponse(body, content_type=_JSON.media_type)
    )
    response["ETag"] = etag
    patch_vary_headers(response, ["Accept-Language", "Authorization"])
    return response


_JSON = JSONRenderer()


@mobile_router.get("/jobs/{work_order_id}", response={200: JobOut, **errors(401, 403, 404, 422)})
def work_order_get(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    technician_for_user(user=request.auth)
    return _job_out(selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order_id))


@mobile_router.post("/events", response={200: DeviceEventOut, **errors(401, 403, 404, 409, *BODY_ERRORS)})
def work_order_technician_event(request: ApiRequest, payload: DeviceEventIn) -> dict[str, Any]:
    """A tap from the phone, applied once per ``client_event_id`` at its ``device_time``.
    ``resolution`` and ``parts`` go with "done" only (422 otherwise)."""
    technician = technician_for_user(user=request.auth)
    # Another technician's order (or event id) answers 404 like a missing one: the service checks,
    # under its lock and before anything about the order is said, for this endpoint and the batch.
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
        resolution=payload.resolution,
        parts=[part.model_dump() for part in payload.parts],
    )
    work_order = selectors.work_order_get_for_tap(
        user=request.auth, work_order_id=work_order.pk, client_event_id=payload.client_event_id
    )
    return {"duplicate": duplicate, "job": _job_out(work_order)}


@mobile_router.post("/events/batch", response={200: EventBatchOut, **errors(401, 403, *BODY_ERRORS)})
def technician_events_batch(request: ApiRequest, payload: EventBatchIn) -> dict[str, Any]:
    """Up to 50 queued events in one request (a day's taps and positions after a day offline), applied
    in order as if sent one by one: each once per ``client_event_id``, each answered in ``results``
    (200, or the refusal's status and message: the next event is still applied). ``jobs`` holds the
    touched jobs as they are now. One round trip instead of fifty on a slow mobile network."""
    technician = technician_for_user(user=request.auth)
    outcomes = services.technician_events_apply(
        technician=technician, events=[event.model_dump() for event in payload.events]
    )
    taps = [(o.work_order_id, o.client_event_id) for o in outcomes if o.work_order_id is not None]
    jobs = [_job_out(work_order) for work_order in selectors.work_orders_after_taps(user=request.auth, taps=taps)]
    return {"results": [outcome._asdict() for outcome in outcomes], "jobs": jobs}


@mobile_router.post("/location", response={200: LocationOut, **errors(401, 403, *BODY_ERRORS)})
def technician_location_report(request: ApiRequest, payload: LocationIn) -> dict[str, Any]:
    """A position the phone queued while on the way, applied once per ``client_event_id``. It moves
    the technician's position only if it is the newest known and recent; a late one is history only
    (``accepted`` false) and sends the customer nothing."""
    technician = technician_for_user(user=request.auth)
    report = services.technician_location_report(
        technician=technician,
        client_event_id=payload.client_event_id,
        device_time=payload.device_time,
        latitude=payload.latitude,
        longitude=payload.longitude,
        accuracy_m=payload.accuracy_m,
    )
    return report._asdict()


def _photo_state(photo: WorkOrderPhoto) -> dict[str, Any]:
    return {"client_photo_id": photo.client_photo_id, "received": photo.received, "complete": photo.complete}


@mobile_router.post("/photos", response={200: PhotoStateOut, **errors(401, 403, 404, 409, *BODY_ERRORS)})
def work_order_photo_start(request: ApiRequest, payload: PhotoStartIn) -> dict[str, Any]:
    """Start a photo's upload, or resume it: the same id and details answer what was received so
    far; the same id with other details is 409. Then send the bytes with ``PUT .../content``."""
    technician = technician_for_user(user=request.auth)
    photo = services.work_order_photo_start(technician=technician, **payload.model_dump())
    return _photo_state(photo)


@mobile_router.put(
    "/photos/{client_photo_id}/content",
    response={200: PhotoStateOut, **errors(401, 403, 404, 409, *BODY_ERRORS)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def work_order_photo_chunk(
    request: ApiRequest,
    client_photo_id: Annotated[str, Field(max_length=64)],
    offset: Annotated[int, Field(ge=0, le=services.PHOTO_MAX_BYTES)],
) -> dict[str, Any]:
    """The next bytes of a photo (the raw body, at most 192 KB a chunk) at ``offset``. 409 with
    ``extra.received`` when ``offset`` is not where the upload stands (resend from there); 422 for
    bytes past the size, or when the finished photo's SHA-256 does not match (its bytes are
    discarded: send it again from 0)."""
    technician = technician_for_user(user=request.auth)
    photo = services.work_order_photo_chunk(
        technician=technician, client_photo_id=client_photo_id, offset=offset, data=request.body
    )
    return _photo_state(photo)


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
