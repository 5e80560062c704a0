"""What the customer's tracking page reads: the visit in words, the live ETA, feasible new times."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

from django.utils import timezone

from dispatch import model as dm
from dispatch.insertion import apply_insertion, insert_job
from dispatch.result import Plan
from server.scheduling.snapshot import HORIZON, current_plan, order_key, snapshot_build
from server.workorders import links
from server.workorders import services as work_order_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent

# The live ETA is shown as a window this many minutes either side of the estimate, rounded
# outwards to 5 minutes: travel times are estimates, and a window is what customers can plan by.
ETA_MARGIN_MINUTES = 10
ETA_ROUND_MINUTES = 5
# "Another time": windows of this length, starting on even local hours at least this long from
# now, inside the live plan's horizon (the plan only knows the next HORIZON). At most
# SLOTS_OFFERED are shown.
SLOT_HOURS = 2
SLOT_LEAD = dt.timedelta(hours=1)
SLOTS_OFFERED = 8
# The page's buttons, by status: what the customer may still do.
CAN_CONFIRM = (Status.NEW, Status.SCHEDULED, Status.EN_ROUTE)
CAN_MOVE = (Status.NEW, Status.SCHEDULED)
CAN_CANCEL = (Status.NEW, Status.SCHEDULED)
# While the visit is ahead, the open page polls its live part, so it turns to "on the way" with
# the ETA by itself.
LIVE_STATUSES = (Status.NEW, Status.SCHEDULED, Status.EN_ROUTE)


@dataclass(frozen=True)
class Slot:
    start: dt.datetime
    end: dt.datetime

    @property
    def key(self) -> str:
        """How the page names the slot in its form: the start as Unix seconds."""
        return str(int(self.start.timestamp()))


@dataclass(frozen=True)
class TrackingView:
    work_order: WorkOrder
    technician_surname: str
    technician_name: str
    promised: tuple[dt.datetime, dt.datetime] | None
    eta: tuple[dt.datetime, dt.datetime] | None
    ended: bool
    live: bool
    confirmed: bool
    can_confirm: bool
    can_move: bool
    can_cancel: bool


def surname(name: str) -> str:
    """How customers address a technician: the family name (张伟 → 张, as in 张师傅; John Smith → Smith)."""
    name = name.strip()
    if not name:
        return ""
    if name.isascii():
        return name.split()[-1]
    return name[0]


def _round_down(moment: dt.datetime, minutes: int) -> dt.datetime:
    local = timezone.localtime(moment).replace(second=0, microsecond=0)
    return local - dt.timedelta(minutes=local.minute % minutes)


def eta_window(work_order: WorkOrder, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The live arrival window while the technician is on the way, else None."""
    if work_order.status != Status.EN_ROUTE:
        return None
    minutes = work_order_services.work_order_eta_minutes(work_order, now=now)
    if minutes is None:
        return None
    arrival = now + dt.timedelta(minutes=minutes)
    start = _round_down(max(now, arrival - dt.timedelta(minutes=ETA_MARGIN_MINUTES)), ETA_ROUND_MINUTES)
    late = arrival + dt.timedelta(minutes=ETA_MARGIN_MINUTES)
    end = _round_down(late, ETA_ROUND_MINUTES)
    if end < late:
        end += dt.timedelta(minutes=ETA_ROUND_MINUTES)
    return start, end


def tracking_view(*, work_order: WorkOrder, now: dt.datetime | None = None) -> TrackingView:
    now = now or timezone.now()
    work_order = WorkOrder.objects.select_related("technician", "customer", "site").get(pk=work_order.pk)
    technician = work_order.technician or work_order.promised_technician
    promised = None
    if work_order.promised_start is not None and work_order.promised_end is not None:
        promised = (work_order.promised_start, work_order.promised_end)
    # Confirmed: the customer confirmed this very window (a new window asks again).
    confirmed = (
        promised is not None
        and WorkOrderEvent.objects.filter(
            work_order=work_order,
            kind=EventKind.NOTE,
            data__action="customer_confirmed",
            data__promised_start=promised[0].isoformat(),
        ).exists()
    )
    status = Status(work_order.status)
    return TrackingView(
        work_order=work_order,
        technician_surname=surname(technician.name) if technician else "",
        technician_name=technician.name if technician else "",
        promised=promised,
        eta=eta_window(work_order, now=now),
        ended=status in links.ENDED_STATUSES,
        live=status in LIVE_STATUSES,
        confirmed=confirmed,
        can_confirm=promised is not None and status in CAN_CONFIRM and not confirmed,
        can_move=status in CAN_MOVE,
        can_cancel=status in CAN_CANCEL,
    )


def _candidates(
    *, now: dt.datetime, horizon_end: dt.datetime, avoid: tuple[dt.datetime, dt.datetime] | None
) -> list[Slot]:
    local = timezone.localtime(now + SLOT_LEAD)
    start = local.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    if start.hour % SLOT_HOURS:
        start += dt.timedelta(hours=1)
    out = []
    width = dt.timedelta(hours=SLOT_HOURS)
    while start + width <= horizon_end:
        slot = Slot(start, start + width)
        if avoid is None or (slot.start, slot.end) != avoid:
            out.append(slot)
        start = timezone.localtime(start + width)
    return out


def _arrivals(plan: Plan, technician_id: str) -> dict[str, int]:
    route = next((r for r in plan.routes if r.technician_id == technician_id), None)
    return {visit.job_id: visit.arrival for visit in route.visits} if route is not None else {}


def _keeps_promises(problem: dm.Problem, before: Plan, after: Plan) -> bool:
    """Whether every other visit on the changed routes that kept its promised window still does:
    a customer moving their visit must not make another customer's technician late."""
    for route in after.routes:
        old = _arrivals(before, route.technician_id)
        for visit in route.visits:
            promised = problem.job(visit.job_id).promised_window
            was = old.get(visit.job_id)
            if promised is None or was is None or not promised.contains(was):
                continue
            if not promised.contains(visit.arrival):
                return False
    return True


def tracking_slots(*, work_order: WorkOrder, now: dt.datetime | None = None) -> list[Slot]:
    """The new times the customer can choose: candidate windows where inserting the order into the
    live plan (the same cheapest-insertion check that places new orders) finds a technician with
    the skill and room in the day. Empty when the order cannot be moved or nothing fits."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    if work_order.status not in CAN_MOVE:
        return []
    key = order_key(work_order.pk)
    snapshot = snapshot_build(now=now)
    if key not in snapshot.orders:
        return []
    # The plan as it stands without this order: a customer moving their visit frees its place.
    routes = {tech: [job for job in jobs if job != key] for tech, jobs in snapshot.routes.items()}
    snapshot = dataclasses.replace(snapshot, routes=routes)
    plan = current_plan(snapshot)
    kept = {route.technician_id: len(route.visits) for route in plan.routes}
    closed = {
        technician: "over-booked: their planned stops no longer fit the day"
        for technician, sequence in routes.items()
        if kept.get(technician, 0) < len(sequence)
    }
    problem = snapshot.problem
    job = problem.job(key)
    avoid = None
    if work_order.promised_start is not None and work_order.promised_end is not None:
        avoid = (work_order.promised_start, work_order.promised_end)
    feasible: list[Slot] = []
    for slot in _candidates(now=now, horizon_end=now + HORIZON, avoid=avoid):
        window = dm.TimeWindow(snapshot.minutes(slot.start), math.floor((slot.end - now).total_seconds() / 60))
        moved = dataclasses.replace(
            job, windows=(window,), promised_window=None, pinned_technician_id=None, pinned_start=None, locked=False
        )
        trial = dataclasses.replace(problem, jobs=tuple(moved if j.id == key else j for j in problem.jobs))
        insertion = insert_job(trial, plan, key, closed=closed)
        if insertion.technician_id is not None and _keeps_promises(
            trial, plan, apply_insertion(trial, plan, insertion)
        ):
            feasible.append(slot)
            if len(feasible) >= SLOTS_OFFERED:
                break
    return feasible
