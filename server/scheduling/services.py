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
from server.technicians.models import Technician
from server.workorders import services as work_order_services
from server.workorders.models import Status, WorkOrder

logger = logging.getLogger(__name__)

REPLAN_TOKEN_KEY = "scheduling:replan-token"


def _hhmm(snapshot: Snapshot, minutes: int | None) -> str | None:
    if minutes is None:
        return None
    return timezone.localtime(snapshot.moment(minutes)).strftime("%H:%M")


def explanation_json(
    snapshot: Snapshot,
    candidates: Any,
    chosen: str | None,
    also: Sequence[dict[str, Any]] = (),
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
    rows.sort(
        key=lambda row: (
            not row["chosen"],
            not row["feasible"],
            row["travel_minutes"] if row["travel_minutes"] is not None else 10**9,
        )
    )
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


class StaleRoute(Exception):
    """A route changed after the snapshot was taken; the placement is tried again."""


@dataclass
class ApplyReport:
    """What applying a plan did, and what it left for the next re-plan."""

    changed: int = 0
    stale: list[str] = field(default_factory=list)
    promises_at_risk: list[str] = field(default_factory=list)


def _involved_technicians(snapshot: Snapshot, routes: Sequence[Any]) -> set[int]:
    """Technicians whose routes applying ``routes`` writes: their own, and those of every order
    that moves into them."""
    involved = {snapshot.technicians[route.technician_id].pk for route in routes}
    for route in routes:
        for visit in route.visits:
            current = snapshot.orders[visit.job_id].technician_id
            if current is not None:
                involved.add(current)
    return involved


# Applying a plan and placing an order are all-or-nothing parts of their caller's transaction:
# no caller recovers from an error inside them, so they need no savepoint of their own.
@transaction.atomic(savepoint=False)
def plan_apply(
    *,
    snapshot: Snapshot,
    plan: Plan,
    technicians: set[str] | None = None,
    explanations: dict[str, dict[str, Any]] | None = None,
    actor_label: str = "dispatch",
    reason: str = "",
    strict: bool = False,
) -> ApplyReport:
    """Write routes back: technician, position and planned arrival of every routed order.

    Locks the technicians involved (in id order) and then the orders, and applies a change only
    where the database still holds what the plan was made from: a technician whose route
    version moved on, or an order whose version or technician changed (a tap, a cancellation,
    a staff change), is skipped and reported; the next re-plan takes it up. ``strict`` raises
    :class:`StaleRoute` instead, before anything is written (placing one order retries).
    """
    explanations = explanations or {}
    report = ApplyReport()
    routes = [r for r in plan.routes if technicians is None or r.technician_id in technicians]
    involved = _involved_technicians(snapshot, routes)
    locked = work_order_services.technicians_lock(involved)
    stale_technicians = {
        pk for pk in involved if pk not in locked or locked[pk].route_version != snapshot.route_versions.get(pk)
    }
    if stale_technicians and strict:
        raise StaleRoute(sorted(stale_technicians))
    order_ids = [snapshot.orders[visit.job_id].pk for route in routes for visit in route.visits]
    current = {
        pk: (technician_id, version)
        for pk, technician_id, version in WorkOrder.objects.select_for_update(no_key=True)
        .filter(pk__in=order_ids)
        .order_by("pk")
        .values_list("pk", "technician_id", "version")
    }
    # An order is moved or re-timed only into a route that is written whole. Moving an order out
    # of a route only leaves a gap, but an order that stays where it is (it changed meanwhile, or
    # its planned route cannot be written) keeps its own route from being rewritten around it;
    # that can keep other orders out of that route, and so on until nothing changes.
    visits = [(snapshot.technicians[r.technician_id].pk, snapshot.orders[v.job_id]) for r in routes for v in r.visits]
    changed_orders = {wo.pk for _, wo in visits if current.get(wo.pk) != (wo.technician_id, wo.version)}
    where_now = {wo.pk: (current[wo.pk][0] if wo.pk in current else None) for _, wo in visits}
    blocked = set(stale_technicians)
    skipped = set(changed_orders)
    while True:
        more_blocked = {tech for pk in skipped if (tech := where_now.get(pk)) is not None} - blocked
        more_skipped = {wo.pk for target, wo in visits if target in blocked} - skipped
        if not more_blocked and not more_skipped:
            break
        blocked |= more_blocked
        skipped |= more_skipped
    if blocked and strict:
        raise StaleRoute(sorted(blocked))
    retimed: list[work_order_services.Retiming] = []
    for route in routes:
        technician = snapshot.technicians[route.technician_id]
        for position, visit in enumerate(route.visits, start=1):
            work_order = snapshot.orders[visit.job_id]
            arrival = snapshot.moment(visit.arrival)
            if work_order.pk in skipped:
                why = (
                    "the order changed since the plan was made"
                    if work_order.pk in changed_orders
                    else "its technician's route changed since the plan was made"
                )
                report.stale.append(f"WO-{work_order.pk:06d}: {why}")
                continue
            same_technician = work_order.technician_id == technician.pk and work_order.status != Status.NEW
            if same_technician and visit.job_id not in explanations:
                if work_order.route_position == position and work_order.planned_arrival == arrival:
                    continue
                retimed.append(work_order_services.Retiming(work_order.pk, position, arrival, work_order.version))
                continue
            assigned = work_order_services.work_order_assign(
                work_order_id=work_order.pk,
                technician=technician,
                day=timezone.localtime(arrival).date(),
                planned_arrival=arrival,
                route_position=position,
                explanation=explanations.get(visit.job_id),
                actor_label=actor_label,
                reason=reason,
            )
            report.changed += 1
            if assigned.promise_at_risk:
                report.promises_at_risk.append(f"{assigned.reference}: {assigned.promise_risk_reason}")
    done = work_order_services.work_orders_retime(changes=retimed)
    report.changed += len(done)
    report.promises_at_risk += work_order_services.work_orders_retime_record(
        work_order_ids=done, reason=reason or actor_label, actor_label=actor_label
    )
    work_order_services.routes_touch({snapshot.technicians[r.technician_id].pk for r in routes} - blocked)
    return report


def _place(
    work_order_id: int,
    placing: PlannedOrder | None,
    *,
    now: dt.datetime | None,
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


# Placing an order reads the routes without locks, then locks the chosen technician and checks
# that nobody changed that route meanwhile; a loser tries again against the updated routes. The
# last try locks every technician first, so a busy moment never leaves an order unplaced.
DISPATCH_OPTIMISTIC_TRIES = 3


@transaction.atomic(savepoint=False)
def work_order_dispatch(*, work_order_id: int, now: dt.datetime | None = None) -> WorkOrder:
    """Give a NEW order to the technician who can take it soonest at least extra driving.

    The cheapest feasible insertion into the live plan answers at once; a debounced OR-Tools
    re-plan of the whole horizon follows after commit. Two concurrent placements never give one
    technician overlapping visits: see ``DISPATCH_OPTIMISTIC_TRIES``.
    """
    for attempt in range(DISPATCH_OPTIMISTIC_TRIES + 1):
        last = attempt == DISPATCH_OPTIMISTIC_TRIES
        try:
            # A savepoint per try: rolling it back releases the row locks the try took, so the
            # next try starts holding nothing and keeps the lock order.
            with transaction.atomic():
                if last:
                    work_order_services.technicians_lock(
                        Technician.objects.filter(active=True).values_list("pk", flat=True)
                    )
                text, data = _dispatch_once(work_order_id, now=now, strict=not last)
            break
        except StaleRoute:
            logger.info("Placing WO-%06d: a route changed meanwhile; trying again", work_order_id)
    work_order = WorkOrder.objects.select_related("technician", "customer", "site").get(pk=work_order_id)
    work_order_services.work_order_note(work_order=work_order, text=text, actor_label="dispatch", data=data)
    return work_order


def _dispatch_once(
    work_order_id: int,
    *,
    now: dt.datetime | None,
    strict: bool,
) -> tuple[str, dict[str, Any] | None]:
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
        data = {"outcome": "not_dispatched", "reason": reason}
    else:
        explanation = explanation_json(snapshot, insertion.candidates, insertion.technician_id, also=compared)
        data = {"explanation": explanation, "outcome": "dispatched"}
        if insertion.technician_id is None:
            text = f"Not dispatched: {insertion.reason}. " + _explanation_text(explanation)
            data.update(outcome="not_dispatched", reason=insertion.reason)
        else:
            new_plan = apply_insertion(snapshot.problem, plan, insertion)
            plan_apply(
                snapshot=snapshot,
                plan=new_plan,
                technicians={insertion.technician_id},
                explanations={key: explanation},
                reason="new order placed",
                strict=strict,
            )
            text = "Why: " + _explanation_text(explanation)
        replan_request()
    return text, data


def replan_request() -> None:
    """Ask for a re-plan after commit; requests within the debounce window collapse into one.

    The re-plan runs in the background (``server.scheduling.background``), never in the caller's
    request, and only the newest request of a window runs. The debounce token is written to the
    cache after the commit too, in the same hook that sends the task: a cache or broker that is
    down or slow never fails, rolls back or holds up the caller's transaction (a phone call and
    its order are committed whatever Redis does). Such a request is logged and dropped; the
    15-minute re-plan, or the next request, re-plans. A rolled-back caller asks for nothing.
    """
    from server.scheduling import background
    from server.scheduling.tasks import replan as replan_task

    def replan_token() -> dict[str, str] | None:
        token = uuid.uuid4().hex
        try:
            cache.set(REPLAN_TOKEN_KEY, token, timeout=3600)
        except background.SERVICE_ERRORS:
            logger.exception("Re-plan not requested: the cache is unavailable")
            return None
        return {"token": token}

    background.run_after_commit(replan_task, countdown=settings.DISPATCH_REPLAN_DEBOUNCE_SECONDS, prepare=replan_token)


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
    stale: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)
    promises_at_risk: list[str] = field(default_factory=list)
    plan: Plan | None = None
    snapshot: Snapshot | None = None


def _travel(plan: Plan) -> int:
    return sum(route.travel_total for route in plan.routes)


def day_replan(
    *,
    now: dt.datetime | None = None,
    time_limit_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 2,
) -> ReplanSummary:
    """Re-optimise every open order of the next 24 hours, starting from the current plan.

    Snapshot → solve → apply. Locked orders (on the way, on site) never move; pinned orders stay
    with their technician; every arrival is kept inside its promised window unless that is
    impossible (a steep cost per minute outside it), and an order that cannot keep its promise is
    flagged "promise at risk" with the reason. Data that breaks the rules is reported in
    ``inconsistencies`` and left out; everything else is planned. Apply skips orders that changed
    while the solver ran (``stale``). The plan is applied only if it passes the checker.
    """
    snapshot = snapshot_build(now=now)
    report = progress or (lambda message: None)
    report(f"Planning {len(snapshot.problem.jobs)} orders for {len(snapshot.problem.technicians)} technicians")
    for problem in snapshot.inconsistencies:
        logger.warning("Re-plan: %s", problem)
        report(f"Inconsistent data: {problem}")
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
        inconsistencies=list(snapshot.inconsistencies),
        plan=plan,
        snapshot=snapshot,
    )
    if violations:
        logger.error("Re-plan rejected, the plan breaks rules: %s", violations)
        report(f"Plan rejected by the checker: {violations[:3]}")
        return summary
    before_tech = {visit.job_id: route.technician_id for route in before.routes for visit in route.visits}
    summary.moved = sum(
        1
        for route in plan.routes
        for visit in route.visits
        if before_tech.get(visit.job_id) not in (None, route.technician_id)
    )
    explanations = {
        job_id: explanation_json(snapshot, explanation.candidates, explanation.chosen_technician_id)
        for job_id, explanation in (plan.explanations or {}).items()
    }
    with transaction.atomic():
        # Every technician this apply may touch, in one statement and in id order: the routes it
        # writes and those of the orders it takes off (locking more later could deadlock).
        work_order_services.technicians_lock(
            {t.pk for t in snapshot.technicians.values()}
            | {o.technician_id for o in snapshot.orders.values() if o.technician_id is not None}
        )
        applied = plan_apply(
            snapshot=snapshot, plan=plan, explanations=explanations, actor_label="re-plan", reason="re-plan"
        )
        summary.stale = applied.stale
        summary.promises_at_risk = applied.promises_at_risk
        for item in plan.unassigned:
            work_order = snapshot.orders.get(item.job_id)
            if work_order is None or work_order.status != Status.SCHEDULED:
                continue
            summary.promises_at_risk += _unschedule(work_order, item.reason, summary.stale)
    for line in summary.stale:
        logger.info("Re-plan skipped %s", line)
    report(
        f"Done: {summary.assigned}/{summary.orders} assigned, {summary.moved} moved, "
        f"{len(summary.stale)} skipped as changed meanwhile, travel "
        f"{summary.travel_minutes_before} → {summary.travel_minutes_after} min"
    )
    return summary


def _unschedule(work_order: PlannedOrder, reason: str, stale: list[str]) -> list[str]:
    """Take an order the re-plan could not fit off its route, unless it changed meanwhile.

    The caller holds the technicians' locks. Leaving a route only leaves a gap in it, so the
    route itself need not still be as planned.
    """
    held = (
        WorkOrder.objects.select_for_update(no_key=True)
        .filter(pk=work_order.pk)
        .values_list("technician_id", "version")
        .first()
    )
    if held != (work_order.technician_id, work_order.version):
        stale.append(f"WO-{work_order.pk:06d}: changed since the plan was made; not unscheduled")
        return []
    done = work_order_services.work_order_transition(
        work_order_id=work_order.pk,
        to_status=Status.NEW,
        actor_label="re-plan",
        text=f"Unscheduled by the re-plan: {reason}",
        data={"why": "unscheduled", "reason": reason},
    )
    outcome = work_order_services.work_order_promise_check(
        work_order=done,
        arrival=None,
        reason=f"the re-plan could not fit it: {reason}",
        actor_label="re-plan",
    )
    return [f"{done.reference}: {done.promise_risk_reason}"] if outcome == "promise_at_risk" else []


def replan_if_current(
    *,
    token: str,
    progress: Callable[[str], None] | None = None,
) -> ReplanSummary | None:
    """The debounced task body: only the newest request runs."""
    if cache.get(REPLAN_TOKEN_KEY) != token:
        return None
    return day_replan(progress=progress)
