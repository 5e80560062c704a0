"""Dispatch: place new orders at once (cheapest insertion), re-plan the day with OR-Tools, and
write the plan back through the work-order services."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from dispatch.insertion import Insertion, apply_insertion, insert_job
from dispatch.result import Plan, check_plan
from dispatch.solver import solve
from server.scheduling.snapshot import (
    PlannedOrder,
    Snapshot,
    current_plan,
    nearby_technicians,
    order_key,
    order_to_place,
    snapshot_build,
)
from server.workorders import services as work_order_services
from server.workorders.models import Status, WorkOrder

logger = logging.getLogger(__name__)

REPLAN_TOKEN_KEY = "scheduling:replan-token"


def _hhmm(snapshot: Snapshot, minutes: int | None) -> str | None:
    if minutes is None:
        return None
    return timezone.localtime(snapshot.moment(minutes)).strftime("%H:%M")


def explanation_json(
    snapshot: Snapshot, candidates: Any, chosen: str | None, also: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The candidates the optimizer compared, in words a dispatcher reads (``also``: rows
    already rendered from another snapshot of the same decision)."""
    rows = list(also)
    for candidate in candidates:
        technician = snapshot.technicians.get(candidate.technician_id)
        rows.append(
            {
                "technician_id": technician.pk if technician else None,
                "technician": technician.name if technician else candidate.technician_id,
                "chosen": candidate.technician_id == chosen,
                "feasible": bool(candidate.feasible),
                "skill_ok": bool(candidate.skill_ok),
                "travel_minutes": candidate.travel,
                "arrival": _hhmm(snapshot, candidate.arrival),
                "lateness_minutes": candidate.lateness,
                "added_travel_minutes": candidate.added_travel,
                "reason": candidate.reason,
            }
        )
    rows.sort(key=lambda row: (not row["chosen"], not row["feasible"],
                               row["travel_minutes"] if row["travel_minutes"] is not None else 10**9))
    chosen_technician = snapshot.technicians.get(chosen) if chosen else None
    return {"chosen": chosen_technician.name if chosen_technician else None, "candidates": rows}


def _explanation_text(explanation: dict[str, Any]) -> str:
    lines = []
    for row in explanation["candidates"][:6]:
        if row["chosen"]:
            lines.append(f"Chosen {row['technician']}: {row['travel_minutes']} min drive, arrives {row['arrival']}")
        else:
            lines.append(f"Not {row['technician']}: {row['reason']}")
    return "; ".join(lines)


# Applying a plan and placing an order are all-or-nothing parts of their caller's transaction:
# no caller recovers from an error inside them, so they need no savepoint of their own.
@transaction.atomic(savepoint=False)
def plan_apply(
    *, snapshot: Snapshot, plan: Plan, technicians: set[str] | None = None,
    explanations: dict[str, dict[str, Any]] | None = None, actor_label: str = "dispatch",
) -> None:
    """Write routes back: technician, position and planned arrival of every routed order."""
    explanations = explanations or {}
    retimed: list[tuple[int, int, dt.datetime]] = []
    for route in plan.routes:
        if technicians is not None and route.technician_id not in technicians:
            continue
        technician = snapshot.technicians[route.technician_id]
        for position, visit in enumerate(route.visits, start=1):
            work_order = snapshot.orders[visit.job_id]
            arrival = snapshot.moment(visit.arrival)
            same_technician = work_order.technician_id == technician.pk and work_order.status != Status.NEW
            if same_technician and visit.job_id not in explanations:
                if work_order.route_position != position or work_order.planned_arrival != arrival:
                    retimed.append((work_order.pk, position, arrival))
                continue
            work_order_services.work_order_assign(
                work_order_id=work_order.pk,
                technician=technician,
                day=timezone.localtime(arrival).date(),
                planned_arrival=arrival,
                route_position=position,
                explanation=explanations.get(visit.job_id),
                actor_label=actor_label,
            )
    work_order_services.work_orders_retime(changes=retimed)


def work_order_create_and_dispatch(**create_kwargs: Any) -> WorkOrder:
    """Create an order and place it at once; the caller gets the assignment back."""
    with transaction.atomic(savepoint=False):
        work_order = work_order_services.work_order_create(**create_kwargs)
        work_order = work_order_dispatch(work_order_id=work_order.pk)
    return work_order


def _place(
    work_order_id: int, placing: PlannedOrder | None, *, now: dt.datetime | None,
    **technicians: set[int] | None,
) -> tuple[Snapshot, Plan | None, Insertion | None]:
    """The cheapest insertion of one order among some technicians (``technician_ids`` or
    ``excluding``); plan and insertion are ``None`` when the order cannot be planned at all."""
    snapshot = snapshot_build(now=now, insert_only=work_order_id, placing=placing, **technicians)
    key = order_key(work_order_id)
    if key not in snapshot.orders:
        return snapshot, None, None
    plan = current_plan(snapshot)
    # A route that no longer fits as a whole (a job ran long, the day filled to the last minute)
    # is only partly in the plan; the rest is still this technician's in the database until the
    # re-plan moves it, so the time it seems to free is not free.
    kept = {route.technician_id: len(route.visits) for route in plan.routes}
    overrun = {
        technician: "over-booked: their planned stops no longer fit the day (the re-plan moves some)"
        for technician, sequence in snapshot.routes.items()
        if kept.get(technician, 0) < len(sequence)
    }
    return snapshot, plan, insert_job(snapshot.problem, plan, key, closed=overrun)


@transaction.atomic(savepoint=False)
def work_order_dispatch(*, work_order_id: int, now: dt.datetime | None = None) -> WorkOrder:
    """Give a NEW order to the technician who can take it soonest at least extra driving.

    The cheapest feasible insertion into the live plan answers at once; a debounced OR-Tools
    re-plan of the whole horizon follows after commit.
    """
    key = order_key(work_order_id)
    placing = order_to_place(work_order_id)
    nearby = nearby_technicians(placing) if placing is not None else None
    snapshot, plan, insertion = _place(work_order_id, placing, now=now, technician_ids=nearby)
    compared: list[dict[str, Any]] = []
    if nearby is not None and (insertion is None or insertion.technician_id is None):
        # Nobody nearby can take it: offer it to everyone else (the explanation keeps both).
        if insertion is not None:
            compared = explanation_json(snapshot, insertion.candidates, None)["candidates"]
        snapshot, plan, insertion = _place(work_order_id, placing, now=now, excluding=nearby)
    data: dict[str, Any] | None = None
    if plan is None or insertion is None:
        reason = snapshot.skipped.get(work_order_id, "it is not open")
        text = f"Not dispatched: {reason}; a dispatcher must place it"
    else:
        explanation = explanation_json(snapshot, insertion.candidates, insertion.technician_id,
                                       also=compared)
        data = {"explanation": explanation}
        if insertion.technician_id is None:
            text = f"Not dispatched: {insertion.reason}. " + _explanation_text(explanation)
        else:
            new_plan = apply_insertion(snapshot.problem, plan, insertion)
            plan_apply(snapshot=snapshot, plan=new_plan, technicians={insertion.technician_id},
                       explanations={key: explanation})
            text = "Why: " + _explanation_text(explanation)
        replan_request()
    work_order = WorkOrder.objects.select_related("technician", "customer", "site").get(pk=work_order_id)
    work_order_services.work_order_note(work_order=work_order, text=text, actor_label="dispatch", data=data)
    return work_order


def replan_request() -> None:
    """Ask for a re-plan after commit; requests within the debounce window collapse into one."""
    from server.scheduling.tasks import replan as replan_task

    token = uuid.uuid4().hex
    cache.set(REPLAN_TOKEN_KEY, token, timeout=3600)
    transaction.on_commit(
        lambda: replan_task.apply_async(
            kwargs={"token": token}, countdown=settings.DISPATCH_REPLAN_DEBOUNCE_SECONDS
        )
    )


@dataclass
class ReplanSummary:
    orders: int
    technicians: int
    assigned: int
    unassigned: dict[str, str] = field(default_factory=dict)
    moved: int = 0
    travel_minutes_before: int = 0
    travel_minutes_after: int = 0
    violations: list[str] = field(default_factory=list)
    plan: Plan | None = None
    snapshot: Snapshot | None = None


def _travel(plan: Plan) -> int:
    return sum(route.travel_total for route in plan.routes)


def day_replan(
    *, now: dt.datetime | None = None, time_limit_s: float | None = None,
    progress: Callable[[str], None] | None = None, workers: int = 2,
) -> ReplanSummary:
    """Re-optimise every open order of the next 24 hours, starting from the current plan.

    Locked orders (on the way, on site) never move; moving an order already scheduled costs a
    penalty in the objective. The new plan is applied only if it passes the independent checker.
    """
    snapshot = snapshot_build(now=now)
    report = progress or (lambda message: None)
    report(f"Planning {len(snapshot.problem.jobs)} orders for {len(snapshot.problem.technicians)} technicians")
    before = current_plan(snapshot)
    plan = solve(
        snapshot.problem,
        time_limit_s=time_limit_s if time_limit_s is not None else settings.DISPATCH_REPLAN_SECONDS,
        initial=before,
        workers=workers,
        progress=report,
    )
    violations = check_plan(snapshot.problem, plan)
    summary = ReplanSummary(
        orders=len(snapshot.problem.jobs),
        technicians=len(snapshot.problem.technicians),
        assigned=sum(len(route.visits) for route in plan.routes),
        unassigned={item.job_id: item.reason for item in plan.unassigned},
        travel_minutes_before=_travel(before),
        travel_minutes_after=_travel(plan),
        violations=violations,
        plan=plan,
        snapshot=snapshot,
    )
    if violations:
        logger.error("Re-plan rejected, the plan breaks rules: %s", violations)
        report(f"Plan rejected by the checker: {violations[:3]}")
        return summary
    before_tech = {visit.job_id: route.technician_id for route in before.routes for visit in route.visits}
    summary.moved = sum(
        1 for route in plan.routes for visit in route.visits
        if before_tech.get(visit.job_id) not in (None, route.technician_id)
    )
    explanations = {
        job_id: explanation_json(snapshot, explanation.candidates, explanation.chosen_technician_id)
        for job_id, explanation in (plan.explanations or {}).items()
    }
    with transaction.atomic():
        plan_apply(snapshot=snapshot, plan=plan, explanations=explanations, actor_label="re-plan")
        for item in plan.unassigned:
            work_order = snapshot.orders[item.job_id]
            if work_order.status == Status.SCHEDULED:
                work_order_services.work_order_transition(
                    work_order_id=work_order.pk, to_status=Status.NEW, actor_label="re-plan",
                    text=f"Unscheduled by the re-plan: {item.reason}",
                )
    report(
        f"Done: {summary.assigned}/{summary.orders} assigned, {summary.moved} moved, travel "
        f"{summary.travel_minutes_before} → {summary.travel_minutes_after} min"
    )
    return summary


def replan_if_current(*, token: str) -> ReplanSummary | None:
    """The debounced task body: only the newest request runs."""
    if cache.get(REPLAN_TOKEN_KEY) != token:
        return None
    return day_replan()

