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
from server.common.schemas import BODY_ERRORS, errors
from server.common.types import ApiRequest
from server.scheduling import jobs, selectors
from server.scheduling.models import ReplanJob

router = Router(tags=["scheduling"])


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
