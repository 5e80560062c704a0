"""The desk's work-order endpoints: log a repair (create and dispatch) and the staff list.

They share the ``/work-orders`` path (one URL, two methods), so they live together here, with
the use case that creates; the other work-order endpoints are in ``server.workorders.api`` and
the staff changes in ``server.scheduling.api``.
"""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Router
from ninja.responses import Status as HttpStatus
from pydantic import Field

from server.accounts.roles import require_staff
from server.common.schemas import BODY_ERRORS, CleanText, IsoDate, errors
from server.common.types import ApiRequest
from server.intake import services
from server.workorders import selectors
from server.workorders.api import work_order_out
from server.workorders.schemas import WorkOrderCreateIn, WorkOrderOut

router = Router(tags=["work orders"])


@router.post("", response={201: WorkOrderOut, **errors(401, 403, *BODY_ERRORS)})
def repair_log(request: ApiRequest, payload: WorkOrderCreateIn) -> HttpStatus:
    require_staff(request.auth)
    work_order = services.repair_log(actor=request.auth, **payload.dict())
    created = selectors.work_order_get_for_user(user=request.auth, work_order_id=work_order.pk)
    return HttpStatus(201, work_order_out(created))


@router.get("", response={200: list[WorkOrderOut], **errors(401, 403, 422)})
def work_order_list(
    request: ApiRequest,
    status: Annotated[CleanText, Field(max_length=12)] | None = None,
    day: IsoDate | None = None,
) -> list[dict[str, Any]]:
    return [work_order_out(wo) for wo in selectors.work_order_list(user=request.auth, status=status, day=day)]
