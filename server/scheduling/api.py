from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from server.accounts.roles import require_staff
from server.scheduling import services

router = Router(tags=["scheduling"])


class ReplanIn(Schema):
    time_limit_s: float = Field(default=5.0, gt=0, le=120)


class ReplanOut(Schema):
    orders: int
    technicians: int
    assigned: int
    moved: int
    unassigned: dict[str, str]
    travel_minutes_before: int
    travel_minutes_after: int
    violations: list[str]


@router.post("/replan", response=ReplanOut)
def day_replan(request: HttpRequest, payload: ReplanIn) -> services.ReplanSummary:
    require_staff(request.auth)
    return services.day_replan(time_limit_s=payload.time_limit_s)
