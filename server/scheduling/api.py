"""Re-planning on demand: ``POST /replan`` queues a background re-plan of the day (202) and
``GET /replan/{id}`` follows it: status, progress lines, then the result or the error."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.urls import reverse
from ninja import Router, Schema
from ninja.responses import Status as HttpStatus
from pydantic import Field

from server.accounts.roles import require_staff
from server.common.schemas import BODY_ERRORS, DbId, errors
from server.common.types import ApiRequest
from server.scheduling import changes, jobs, selectors
from server.scheduling.models import ReplanJob
from server.workorders import selectors as work_order_selectors
from server.workorders.api import STAFF_ACTION_ERRORS, STAFF_CHANGE_ERRORS, work_order_out
from server.workorders.schemas import AssignIn, AssignOut, HoldIn, ReasonIn, RescheduleIn, WorkOrderOut

router = Router(tags=["scheduling"])
# Staff changes to one order's plan, under /work-orders/{id}/... (server.config.api mounts it).
work_orders_router = Router(tags=["work orders"])


class ReplanIn(Schema):
    # The upper bound is the setting DISPATCH_REPLAN_MAX_SECONDS, checked by the service.
    time_limit_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Solver time limit in seconds (default DISPATCH_REPLAN_SECONDS, at most "
        "DISPATCH_REPLAN_MAX_SECONDS)",
    )


class ReplanJobCreatedOut(Schema):
    id: uuid.UUID
    status: str
    url: str


class ReplanJobOut(Schema):
    id: uuid.UUID
    status: str
    requested_by: str
    time_limit_s: float
    progress: list[str]
    result: dict[str, Any] | None
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@router.post("/replan", response={202: ReplanJobCreatedOut, **errors(401, 403, *BODY_ERRORS)})
def replan_job_create(request: ApiRequest, payload: ReplanIn) -> HttpStatus:
    require_staff(request.auth)
    job = jobs.replan_job_create(requested_by=request.auth.get_username(), time_limit_s=payload.time_limit_s)
    url = reverse("api:replan_job_get", kwargs={"job_id": job.pk})
    return HttpStatus(202, {"id": job.pk, "status": job.status, "url": url})


@router.get("/replan/{job_id}", response={200: ReplanJobOut, **errors(401, 403, 404)})
def replan_job_get(request: ApiRequest, job_id: str) -> ReplanJob:
    require_staff(request.auth)
    return selectors.replan_job_get(job_id=job_id)


def _staff_answer(request: ApiRequest, work_order_id: int) -> dict[str, Any]:
    return work_order_out(work_order_selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order_id))


@work_orders_router.post("/{work_order_id}/assign", response={200: AssignOut, **STAFF_CHANGE_ERRORS})
def work_order_assign_by_hand(request: ApiRequest, work_order_id: DbId, payload: AssignIn) -> dict[str, Any]:
    """Assign by hand (pinned); refused with the reason when the technician cannot take it."""
    require_staff(request.auth)
    result = changes.work_order_assign_by_hand(
        work_order_id=work_order_id, technician_id=payload.technician_id, start=payload.start, actor=request.auth
    )
    return {"work_order": _staff_answer(request, work_order_id), "consequences": result.consequences}


@work_orders_router.post("/{work_order_id}/pin", response={200: WorkOrderOut, **STAFF_ACTION_ERRORS})
def work_order_pin(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_pin(work_order_id=work_order_id, pinned=True, actor=request.auth)
    return _staff_answer(request, work_order_id)


@work_orders_router.post("/{work_order_id}/unpin", response={200: WorkOrderOut, **STAFF_ACTION_ERRORS})
def work_order_unpin(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_pin(work_order_id=work_order_id, pinned=False, actor=request.auth)
    return _staff_answer(request, work_order_id)


@work_orders_router.post("/{work_order_id}/reschedule", response={200: WorkOrderOut, **STAFF_CHANGE_ERRORS})
def work_order_reschedule(request: ApiRequest, work_order_id: DbId, payload: RescheduleIn) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_reschedule(
        work_order_id=work_order_id,
        window_start=payload.window_start,
        window_end=payload.window_end,
        reason=payload.reason,
        actor=request.auth,
    )
    return _staff_answer(request, work_order_id)


@work_orders_router.post("/{work_order_id}/cancel", response={200: WorkOrderOut, **STAFF_CHANGE_ERRORS})
def work_order_cancel(request: ApiRequest, work_order_id: DbId, payload: ReasonIn) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_cancel(work_order_id=work_order_id, reason=payload.reason, actor=request.auth)
    return _staff_answer(request, work_order_id)


@work_orders_router.post("/{work_order_id}/hold", response={200: WorkOrderOut, **STAFF_CHANGE_ERRORS})
def work_order_hold(request: ApiRequest, work_order_id: DbId, payload: HoldIn) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_hold(
        work_order_id=work_order_id, reason=payload.reason, follow_up_on=payload.follow_up_on, actor=request.auth
    )
    return _staff_answer(request, work_order_id)


@work_orders_router.post("/{work_order_id}/release", response={200: WorkOrderOut, **STAFF_ACTION_ERRORS})
def work_order_release(request: ApiRequest, work_order_id: DbId) -> dict[str, Any]:
    require_staff(request.auth)
    changes.work_order_release(work_order_id=work_order_id, actor=request.auth)
    return _staff_answer(request, work_order_id)
