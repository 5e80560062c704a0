"""What the customer does on the tracking page: confirm the window, ask for another time, cancel.

Each choice goes through the same services staff use (``server.scheduling.changes``) and leaves
a note by "customer" on the order's timeline, so staff see who asked.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from server.common.exceptions import Conflict, ValidationFailed
from server.scheduling import changes
from server.tracking import selectors
from server.workorders import services as work_order_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent

ACTOR_LABEL = "customer"
REASON_MAX = 200


def _fresh(work_order: WorkOrder) -> WorkOrder:
    return WorkOrder.objects.select_related("technician").get(pk=work_order.pk)


@transaction.atomic
def tracking_confirm(*, work_order: WorkOrder) -> WorkOrderEvent:
    """The customer confirms the promised window: a note on the timeline (asking twice is one)."""
    work_order = _fresh(work_order)
    if work_order.promised_start is None or work_order.promised_end is None:
        raise Conflict(_("There is no time to confirm yet; we will text you when there is."))
    if work_order.status not in selectors.CAN_CONFIRM:
        raise Conflict(_("This visit can no longer be confirmed."))
    start, end = work_order.promised_start, work_order.promised_end
    window = work_order_services.window_text(start, end)
    return work_order_services.work_order_note(
        work_order=work_order,
        text=f"The customer confirmed the window {window} (tracking page)",
        actor_label=ACTOR_LABEL,
        kind=EventKind.NOTE,
        data={"action": "customer_confirmed", "promised_start": start.isoformat(), "promised_end": end.isoformat()},
    )


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_MAX:
        raise ValidationFailed(_("Please keep the reason under %(count)d characters.") % {"count": REASON_MAX})
    return reason


@transaction.atomic
def tracking_cancel(*, work_order: WorkOrder, reason: str = "") -> WorkOrder:
    """The customer cancels the visit, with an optional reason."""
    reason = _reason(reason)
    work_order = _fresh(work_order)
    if work_order.status not in selectors.CAN_CANCEL:
        if work_order.status in (Status.EN_ROUTE, Status.ON_SITE):
            raise Conflict(_("The technician is already on the way; please call us to cancel."))
        raise Conflict(_("This visit can no longer be cancelled here; please call us."))
    said = "the customer cancelled on the tracking page" + (f" — {reason}" if reason else "")
    work_order = changes.work_order_cancel(work_order_id=work_order.pk, reason=said, actor=None)
    work_order_services.work_order_note(
        work_order=work_order,
        text=f"The customer cancelled the visit on the tracking page{f': {reason}' if reason else ''}",
        actor_label=ACTOR_LABEL,
        data={"action": "customer_cancelled", "reason": reason},
    )
    return work_order


@transaction.atomic
def tracking_reschedule(*, work_order: WorkOrder, slot_key: str, now: dt.datetime | None = None) -> WorkOrder:
    """Move the visit to a slot the page offered, if inserting it into the plan is still feasible."""
    now = now or timezone.now()
    work_order = _fresh(work_order)
    if work_order.status not in selectors.CAN_MOVE:
        raise Conflict(_("This visit can no longer be moved here; please call us."))
    slot = next((s for s in selectors.tracking_slots(work_order=work_order, now=now) if s.key == slot_key), None)
    if slot is None:
        raise Conflict(_("That time is no longer available. Please choose another one."))
    before = work_order_services.window_text(work_order.promised_start, work_order.promised_end)
    after = work_order_services.window_text(slot.start, slot.end)
    reason = "The customer chose another time on the tracking page"
    work_order = changes.work_order_reschedule(
        work_order_id=work_order.pk, window_start=slot.start, window_end=slot.end, reason=reason, actor=None
    )
    work_order_services.work_order_note(
        work_order=work_order,
        text=f"The customer moved the visit {before} → {after} (tracking page)",
        actor_label=ACTOR_LABEL,
        data={
            "action": "customer_rescheduled",
            "window_start": slot.start.isoformat(),
            "window_end": slot.end.isoformat(),
        },
    )
    return work_order
