"""Staff change orders here, and only here: assign by hand, pin, reschedule, hold, release, cancel.

Each change is one transaction that takes the locks in the global order (technicians, then the
order), goes through the state machine and the work-order services, writes an event with who
and why, and re-dispatches what it puts back into planning. The API, the admin and the console
call these; none of them writes a work order itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from dispatch.insertion import apply_insertion, insert_job
from server.common.exceptions import Conflict, NotFound, ValidationFailed
from server.scheduling import services as scheduling_services
from server.scheduling.snapshot import current_plan, order_key, snapshot_build, technician_key
from server.technicians.models import Technician
from server.workorders import services as work_order_services
from server.workorders.models import EventKind, Status, WorkOrder


@dataclass
class AssignResult:
    work_order: WorkOrder
    # Other orders on the technician's route that the assignment makes late or moves noticeably.
    consequences: list[dict[str, Any]] = field(default_factory=list)


def _get(work_order_id: int) -> WorkOrder:
    work_order = WorkOrder.objects.select_related("technician").filter(pk=work_order_id).first()
    if work_order is None:
        raise NotFound(f"Work order {work_order_id} does not exist")
    return work_order


def _locked(work_order_id: int) -> WorkOrder:
    """The order, row-locked (its technician's lock is taken first by the caller)."""
    return (
        WorkOrder.objects.select_for_update(of=("self",), no_key=True)
        .select_related("technician")
        .get(pk=work_order_id)
    )


def _lock_fleet() -> None:
    """Changes that take an order off a route and place it again may touch any technician: lock
    them all first, in id order (staff changes are rare; placements wait a moment)."""
    work_order_services.technicians_lock(Technician.objects.values_list("pk", flat=True))


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(f"Give a reason to {what}")
    if len(reason) > 300:
        raise ValidationFailed("The reason is longer than 300 characters", extra={"length": len(reason)})
    return reason


@transaction.atomic
def work_order_assign_by_hand(
    *,
    work_order_id: int,
    technician_id: int,
    actor: User,
    start: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> AssignResult:
    """Give an order to the technician a dispatcher chose, optionally at a given start.

    Refused, with nothing changed, when the technician lacks the skill, is not working in the next
    24 hours, or cannot fit the order (their shift, the customer's window, their other stops).
    The order is pinned: re-plans keep it with this technician. The answer lists the technician's
    other orders that become late for their promise, or move by ``PLAN_CHANGE_EVENT_MINUTES``.
    """
    technician = Technician.objects.filter(pk=technician_id).first()
    if technician is None or not technician.active:
        raise ValidationFailed(f"Technician {technician_id} does not exist or is not active")
    work_order = _get(work_order_id)
    if work_order.status not in (Status.NEW, Status.SCHEDULED, Status.ON_HOLD):
        raise Conflict(
            f"{work_order.reference} is '{Status(work_order.status).label}'; only new, scheduled or "
            "on-hold orders can be assigned",
            extra={"status": work_order.status},
        )
    work_order_services.technicians_lock([technician.pk, work_order.technician_id])
    if start is not None and timezone.is_naive(start):
        raise ValidationFailed("start must include a UTC offset")
    if (
        work_order.required_skill_id is not None
        and not technician.skills.filter(pk=work_order.required_skill_id).exists()
    ):
        raise ValidationFailed(
            f"{technician} lacks the skill '{work_order.required_skill}' this order needs",
            extra={"technician_id": technician.pk},
        )
    label = str(actor)
    if work_order.status != Status.NEW:
        # Off its current route (or out of hold) first, inside this transaction: a refusal below
        # rolls it back.
        work_order_services.work_order_transition(
            work_order_id=work_order.pk,
            to_status=Status.NEW,
            actor=actor,
            text=f"Taken off the plan to be assigned by hand to {technician}",
            data={"why": "assign_by_hand", "technician": technician.name},
        )
    snapshot = snapshot_build(now=now, insert_only=work_order.pk, technician_ids={technician.pk})
    key, tkey = order_key(work_order.pk), technician_key(technician.pk)
    if key not in snapshot.orders:
        raise ValidationFailed(
            f"{work_order.reference} cannot be planned: " + snapshot.skipped.get(work_order.pk, "it is not open")
        )
    if tkey not in snapshot.technicians:
        raise ValidationFailed(f"{technician} is not working in the next 24 hours")
    job = snapshot.problem.job(key)
    pinned_start = None
    if start is not None:
        pinned_start = snapshot.minutes(start)
        windows = job.start_windows()
        if pinned_start < 0 or (windows is not None and not any(a <= pinned_start <= b for a, b in windows)):
            raise ValidationFailed(
                f"{timezone.localtime(start):%Y-%m-%d %H:%M} is outside the customer's window or in the past"
            )
    problem = replace(
        snapshot.problem,
        jobs=tuple(
            replace(j, pinned_technician_id=tkey, pinned_start=pinned_start) if j.id == key else j
            for j in snapshot.problem.jobs
        ),
    )
    snapshot.problem = problem
    plan = current_plan(snapshot)
    insertion = insert_job(problem, plan, key)
    if insertion.technician_id != tkey:
        candidate = next((c for c in insertion.candidates if c.technician_id == tkey), None)
        why = candidate.reason if candidate is not None and candidate.reason else insertion.reason
        raise ValidationFailed(
            f"{technician} cannot take {work_order.reference}: {why}", extra={"technician_id": technician.pk}
        )
    new_plan = apply_insertion(problem, plan, insertion)
    explanation = scheduling_services.explanation_json(snapshot, insertion.candidates, tkey)
    explanation["manual"] = {"by": label, "start": start.isoformat() if start else None}
    scheduling_services.plan_apply(
        snapshot=snapshot,
        plan=new_plan,
        technicians={tkey},
        explanations={key: explanation},
        actor_label=label,
        reason=f"assigned by hand by {label}",
    )
    work_order_pin(work_order_id=work_order.pk, pinned=True, actor=actor, start=start, note="assigned by hand")
    consequences = []
    threshold = dt.timedelta(minutes=settings.PLAN_CHANGE_EVENT_MINUTES)
    route = next(r for r in new_plan.routes if r.technician_id == tkey)
    for visit in route.visits:
        other = snapshot.orders[visit.job_id]
        if other.pk == work_order.pk:
            continue
        arrival = snapshot.moment(visit.arrival)
        late_by = arrival - other.promised_end if other.promised_end is not None else dt.timedelta(0)
        moved = other.planned_arrival is not None and arrival - other.planned_arrival >= threshold
        if late_by > dt.timedelta(0) or moved:
            consequences.append(
                {
                    "work_order_id": other.pk,
                    "reference": f"WO-{other.pk:06d}",
                    "planned_arrival": arrival,
                    "previous_arrival": other.planned_arrival,
                    "promised_end": other.promised_end,
                    "late_minutes": max(0, int(late_by.total_seconds() // 60)),
                }
            )
    return AssignResult(work_order=_get(work_order.pk), consequences=consequences)


@transaction.atomic
def work_order_pin(
    *,
    work_order_id: int,
    pinned: bool,
    actor: User | None,
    start: dt.datetime | None = None,
    note: str = "",
) -> WorkOrder:
    """Pin an order to its technician (re-plans keep it there), or unpin it."""
    work_order = _get(work_order_id)
    work_order_services.technicians_lock([work_order.technician_id])
    work_order = _locked(work_order_id)
    if pinned and (work_order.technician_id is None or work_order.status != Status.SCHEDULED):
        raise Conflict(f"{work_order.reference} is not scheduled with a technician; assign it first")
    if work_order.pinned == pinned and (not pinned or work_order.pinned_start == start):
        return work_order
    work_order.pinned, work_order.pinned_start = pinned, start if pinned else None
    work_order.version += 1
    work_order.save(update_fields=["pinned", "pinned_start", "version", "updated_at"])
    if pinned:
        text = f"Pinned to {work_order.technician}" + (f" at {timezone.localtime(start):%H:%M}" if start else "")
    else:
        text = "Unpinned: the plan may move it"
    work_order_services.work_order_note(
        work_order=work_order,
        kind=EventKind.PINNED,
        actor=actor,
        text=f"{text} ({note})" if note else text,
        data={
            "pinned": pinned,
            "technician": work_order.technician.name if work_order.technician else "",
            "start": start.isoformat() if pinned and start else None,
            "note": note,
        },
    )
    return work_order


@transaction.atomic
def work_order_reschedule(
    *,
    work_order_id: int,
    window_start: dt.datetime,
    window_end: dt.datetime,
    reason: str,
    actor: User | None,
) -> WorkOrder:
    """Move the customer's window (they asked, or we cannot come): the new window is the new
    promise, recorded with the reason, and the order is placed again."""
    reason = _reason(reason, "reschedule")
    if timezone.is_naive(window_start) or timezone.is_naive(window_end):
        raise ValidationFailed("The window must include a UTC offset")
    if window_end <= window_start:
        raise ValidationFailed("The window must end after it starts")
    if window_end <= timezone.now():
        raise ValidationFailed("The window has already passed")
    work_order = _get(work_order_id)
    if work_order.status not in (Status.NEW, Status.SCHEDULED, Status.ON_HOLD):
        raise Conflict(
            f"{work_order.reference} is '{Status(work_order.status).label}'; it cannot be rescheduled now",
            extra={"status": work_order.status},
        )
    _lock_fleet()
    if work_order.status == Status.SCHEDULED:
        work_order_services.work_order_transition(
            work_order_id=work_order.pk,
            to_status=Status.NEW,
            actor=actor,
            text=f"Taken off the plan to be rescheduled: {reason}",
            data={"why": "reschedule", "reason": reason},
        )
    work_order = _locked(work_order_id)
    work_order.window_start, work_order.window_end = window_start, window_end
    work_order.version += 1
    work_order.save(update_fields=["window_start", "window_end", "version", "updated_at"])
    work_order_services.work_order_promise(
        work_order=work_order,
        start=window_start,
        end=window_end,
        reason=reason,
        actor=actor,
        actor_label=str(actor) if actor else "staff",
        outcome="rescheduled",
    )
    if work_order.status == Status.NEW:
        return scheduling_services.work_order_dispatch(work_order_id=work_order.pk)
    return work_order


@transaction.atomic
def work_order_cancel(*, work_order_id: int, reason: str, actor: User | None) -> WorkOrder:
    reason = _reason(reason, "cancel")
    return work_order_services.work_order_transition(
        work_order_id=work_order_id,
        to_status=Status.CANCELLED,
        actor=actor,
        text=f"Cancelled: {reason}",
        data={"reason": reason, "why": "cancel"},
    )


@transaction.atomic
def work_order_hold(
    *,
    work_order_id: int,
    reason: str,
    actor: User | None,
    follow_up_on: dt.date | None = None,
) -> WorkOrder:
    """Take an order out of planning until someone releases it (waiting for parts, a callback)."""
    reason = _reason(reason, "put an order on hold")
    return work_order_services.work_order_transition(
        work_order_id=work_order_id,
        to_status=Status.ON_HOLD,
        actor=actor,
        text=f"On hold: {reason}",
        hold_reason=reason,
        follow_up_on=follow_up_on,
        data={"reason": reason, "why": "hold"},
    )


@transaction.atomic
def work_order_release(*, work_order_id: int, actor: User | None) -> WorkOrder:
    """Put an on-hold order back into planning and place it at once."""
    _lock_fleet()
    work_order_services.work_order_transition(
        work_order_id=work_order_id,
        to_status=Status.NEW,
        actor=actor,
        text="Released back to planning",
        data={"why": "release"},
    )
    return scheduling_services.work_order_dispatch(work_order_id=work_order_id)
