"""Build the optimizer's problem from the database: a rolling horizon that starts now.

``dispatch`` works in integer minutes from an origin; this module is where wall-clock time,
shifts in local time and rows in the database become those minutes, and back.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Exists, ExpressionWrapper, F, FloatField, Min, OuterRef, Q, Value
from django.utils import timezone

from dispatch import model as dm
from dispatch.result import Plan, Route, Unassigned, plan_objective
from dispatch.schedule import build_route
from server.common.travel import minute_of_day, travel_provider
from server.technicians.models import Technician
from server.workorders.models import PRIORITY_RANK, EventKind, Status, WorkOrder, WorkOrderEvent
from server.workorders.services import technician_positions

HORIZON = dt.timedelta(hours=24)
# Service-level targets from the call: arriving later costs lateness in the optimizer's objective.
SLA_BY_PRIORITY = {
    "urgent": dt.timedelta(hours=4),
    "high": dt.timedelta(hours=8),
    "normal": dt.timedelta(hours=24),
    "low": dt.timedelta(hours=48),
}


def technician_key(technician_id: int) -> str:
    return f"t{technician_id}"


def order_key(work_order_id: int) -> str:
    return f"w{work_order_id}"


@dataclass
class Snapshot:
    origin: dt.datetime
    problem: dm.Problem
    technicians: dict[str, Technician]
    orders: dict[str, PlannedOrder]
    routes: dict[str, list[str]] = field(default_factory=dict)  # the plan the database holds now
    skipped: dict[int, str] = field(default_factory=dict)  # work order id -> why it is not planned
    # Technician id -> route version read before the orders: a writer holding the technician's
    # lock knows the route changed since this snapshot when the version differs.
    route_versions: dict[int, int] = field(default_factory=dict)
    # Data that breaks the rules (left by older code or hand edits): reported, left out, never fatal.
    inconsistencies: list[str] = field(default_factory=list)

    def minutes(self, moment: dt.datetime) -> int:
        return int((moment - self.origin).total_seconds() // 60)

    def moment(self, minutes: int) -> dt.datetime:
        return self.origin + dt.timedelta(minutes=minutes)

    @property
    def horizon_minutes(self) -> int:
        return int(HORIZON.total_seconds() // 60)


def shift_occurrence(technician: Technician, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The shift running at ``now``, or else the next one (aware datetimes)."""
    local_now = timezone.localtime(now)
    tz = local_now.tzinfo
    for offset in (-1, 0, 1):
        day = local_now.date() + dt.timedelta(days=offset)
        start = dt.datetime.combine(day, technician.shift_start, tzinfo=tz)
        end = dt.datetime.combine(day, technician.shift_end, tzinfo=tz)
        if end <= start:
            end += dt.timedelta(days=1)
        if end > now:
            return start, end
    raise AssertionError("unreachable: tomorrow's shift always ends after now")


def shift_stretch_end(technician: Technician, shift_end: dt.datetime, *, until: dt.datetime) -> dt.datetime:
    """Where the work ends when shifts run into each other (a round-the-clock 00:00-00:00 crew):
    the next shift starting exactly when this one ends is one stretch, up to ``until``."""
    while shift_end < until:
        next_start, next_end = shift_occurrence(technician, now=shift_end)
        if next_start != shift_end:
            break
        shift_end = next_end
    return shift_end


def _on_site_since(work_order: PlannedOrder) -> dt.datetime:
    event = (
        WorkOrderEvent.objects.filter(work_order_id=work_order.pk, kind=EventKind.STATUS, to_status=Status.ON_SITE)
        .order_by("-created_at")
        .first()
    )
    if event is not None:
        return event.created_at
    return WorkOrder.objects.values_list("updated_at", flat=True).get(pk=work_order.pk)


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """The columns of a work order that planning reads (loaded as tuples: this is a hot path)."""

    pk: int
    status: str
    technician_id: int | None
    route_position: int | None
    planned_arrival: dt.datetime | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    service_minutes: int
    priority: str
    complaint: bool
    created_at: dt.datetime | None  # None: not loaded (orders already routed, when placing one)
    latitude: float | None
    longitude: float | None
    skill: str | None
    version: int = 0
    promised_start: dt.datetime | None = None
    promised_end: dt.datetime | None = None
    promise_at_risk: bool = False
    pinned: bool = False
    pinned_start: dt.datetime | None = None
    logged_arrival: dt.datetime | None = None

    @property
    def location(self) -> dm.Location | None:
        """The site on the map, or ``None`` when its address has no coordinates."""
        if self.latitude is None or self.longitude is None:
            return None
        return dm.Location(self.latitude, self.longitude)


_SNAPSHOT_FIELDS = (
    "id",
    "status",
    "technician_id",
    "route_position",
    "planned_arrival",
    "window_start",
    "window_end",
    "service_minutes",
    "priority",
    "complaint",
    "created_at",
    "site__latitude",
    "site__longitude",
    "required_skill__code",
    "version",
    "promised_start",
    "promised_end",
    "promise_at_risk",
    "pinned",
    "pinned_start",
    "logged_arrival",
)
# Placing one order does not read the SLA clock of the orders already on routes (they stay
# where they are), and timestamps are the slowest columns to load. Their planned arrivals and
# promises it does read: a later stop pushed by the new order may move enough to be told.
_NOT_FOR_PLACING = ("created_at",)
_ROUTED_FIELDS = tuple(f for f in _SNAPSHOT_FIELDS if f not in _NOT_FOR_PLACING)
# Where each PlannedOrder field sits in a row of _ROUTED_FIELDS (None: not loaded).
_ROUTED_AT = tuple(_ROUTED_FIELDS.index(f) if f in _ROUTED_FIELDS else None for f in _SNAPSHOT_FIELDS)


def _routed_order(row: tuple[Any, ...]) -> PlannedOrder:
    return PlannedOrder(*[None if at is None else row[at] for at in _ROUTED_AT])  # type: ignore[arg-type]


# Marks a matrix entry a sparse snapshot did not compute; large enough that reading it by
# mistake makes a plan infeasible rather than optimistic.
UNKNOWN_MINUTES = 10**6


# On a big fleet, placing one order first compares the technicians whose day passes nearest to
# it (home, position or any stop): this many with the skill, plus a few without it so the
# explanation can say a nearer technician lacked the skill. A big fleet then costs little more
# per urgent order than a small one; if none of them can take the order, the rest of the fleet is
# tried. Fleets up to SHORTLIST_ABOVE technicians are compared whole: measured with
# bench/urgent_api.py on 50 technicians and 500 orders, the whole fleet's snapshot takes about
# 22 ms, a shortlist's about 15 ms with its query, but on a full day the shortlist often has no
# room and the second snapshot adds 25 ms more, which set the 95th percentile.
PLACE_AMONG_NEAREST = 12
PLACE_ALSO_UNSKILLED = 3
SHORTLIST_ABOVE = 60


_PLANNED_STATUSES = (Status.SCHEDULED, Status.EN_ROUTE, Status.ON_SITE)


def order_to_place(work_order_id: int) -> PlannedOrder | None:
    """What planning reads of one order that is not on a route yet (``None``: routed or gone).

    Read once per urgent order and handed to :func:`nearby_technicians` and
    :func:`snapshot_build`, which would otherwise each read it again.
    """
    row = (
        WorkOrder.objects.filter(pk=work_order_id)
        .exclude(status__in=_PLANNED_STATUSES)
        .values_list(*_SNAPSHOT_FIELDS)
        .first()
    )
    return None if row is None else PlannedOrder(*row)


def nearby_technicians(order: PlannedOrder) -> set[int] | None:
    """The technicians an urgent order is offered to first, or ``None`` for the whole fleet.

    Nearness is the straight-line distance (squared, in degrees scaled for latitude) from the
    order to the technician's home, last reported position or any stop on their route, worked
    out in the database: one query whatever the size of the day.
    """
    where = order.location
    if where is None or Technician.objects.filter(active=True).count() <= SHORTLIST_ABOVE:
        return None
    lat0, lon0, skill = where.lat, where.lon, order.skill
    scale = math.cos(math.radians(lat0)) ** 2

    def far(lat: float | None, lon: float | None) -> float:
        if lat is None or lon is None:
            return math.inf
        return (lat - lat0) ** 2 + scale * (lon - lon0) ** 2

    dlat = F("work_orders__site__latitude") - Value(lat0)
    dlon = F("work_orders__site__longitude") - Value(lon0)
    on_route = Q(work_orders__status__in=_PLANNED_STATUSES)
    skilled = Technician.skills.through.objects.filter(technician_id=OuterRef("pk"), skill__code=skill)
    rows = list(
        Technician.objects.filter(active=True)
        .annotate(
            skilled=Exists(skilled) if skill else Value(True),
            stop=Min(
                ExpressionWrapper(dlat * dlat + Value(scale) * dlon * dlon, output_field=FloatField()), filter=on_route
            ),
        )
        .values_list("id", "home_latitude", "home_longitude", "last_latitude", "last_longitude", "skilled", "stop")
    )
    nearest = {
        pk: min(far(hlat, hlon), far(llat, llon), math.inf if stop is None else stop)
        for pk, hlat, hlon, llat, llon, _, stop in rows
    }
    ranked = sorted(nearest, key=nearest.__getitem__)
    has_skill = {pk for pk, *_, ok, _stop in rows if ok}
    with_skill = [pk for pk in ranked if pk in has_skill][:PLACE_AMONG_NEAREST]
    without = [pk for pk in ranked if pk not in has_skill][:PLACE_ALSO_UNSKILLED]
    return set(with_skill) | set(without)


def snapshot_build(
    *,
    now: dt.datetime | None = None,
    insert_only: int | None = None,
    technician_ids: set[int] | None = None,
    excluding: set[int] | None = None,
    placing: PlannedOrder | None = None,
) -> Snapshot:
    """Everything the optimizer needs to plan the next 24 hours, as of ``now``.

    ``insert_only`` (a work order id) builds the small snapshot that placing one order needs:
    the routes as they stand plus that order, and only the travel times the cheapest insertion
    reads (the legs along each route, and between the order and every stop). That keeps an
    urgent order's answer fast on a full day; the background re-plan uses the full matrix.
    ``technician_ids`` limits the snapshot to those technicians and their routes; ``excluding``
    leaves those out. ``placing`` is the ``insert_only`` order as :func:`order_to_place` read it.
    """
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    horizon_end = now + HORIZON
    horizon_min = int(HORIZON.total_seconds() // 60)
    points: list[dm.Location] = []

    def node(location: dm.Location) -> int:
        points.append(location)
        return len(points) - 1

    # The technicians first: their route versions must be no newer than the orders read next.
    roster_query = Technician.objects.filter(active=True)
    if technician_ids is not None:
        roster_query = roster_query.filter(pk__in=technician_ids)
    if excluding:
        roster_query = roster_query.exclude(pk__in=excluding)
    roster = list(roster_query.order_by("id"))
    # Every technician's, not only the roster's: an order may still sit with one who is off now.
    route_versions = dict(Technician.objects.values_list("pk", "route_version"))
    planned = Q(status__in=_PLANNED_STATUSES)
    # Only the columns planning reads: a busy day has hundreds of open orders, and this runs on
    # the request path of every new order.
    if insert_only is None:
        rows = WorkOrder.objects.filter(planned | Q(status=Status.NEW)).order_by("id").values_list(*_SNAPSHOT_FIELDS)
        orders = [PlannedOrder(*row) for row in rows]
    else:
        routed = WorkOrder.objects.filter(planned)
        if technician_ids is not None:
            routed = routed.filter(technician_id__in=technician_ids)
        if excluding:
            routed = routed.exclude(technician_id__in=excluding)
        orders = [_routed_order(row) for row in routed.order_by("id").values_list(*_ROUTED_FIELDS)]
        if placing is None or placing.pk != insert_only:
            placing = order_to_place(insert_only)
        if placing is not None:
            orders.append(placing)
    orders, inconsistencies = _consistent(orders, {t.pk: t.name for t in roster})
    on_site = {wo.technician_id: wo for wo in orders if wo.status == Status.ON_SITE}
    snapshot_technicians: dict[str, Technician] = {}
    technicians: list[dm.Technician] = []
    positions = technician_positions([t for t in roster if shift_occurrence(t, now=now)[0] <= now], now=now)
    # Skill codes as plain pairs: cheaper than prefetching Skill objects, on every urgent order.
    skill_codes: dict[int, set[str]] = {}
    for technician_id, code in Technician.skills.through.objects.filter(
        technician_id__in=[technician.pk for technician in roster]
    ).values_list("technician_id", "skill__code"):
        skill_codes.setdefault(technician_id, set()).add(code)
    for technician in roster:
        shift_start, shift_end = shift_occurrence(technician, now=now)
        if shift_start >= horizon_end:
            continue
        shift_end = shift_stretch_end(technician, shift_end, until=horizon_end)
        working_now = shift_start <= now
        start_min = max(0, int((shift_start - now).total_seconds() // 60))
        end_min = min(int((shift_end - now).total_seconds() // 60), horizon_min)
        start_location = (
            positions[technician.pk][0]
            if working_now and technician.pk in positions
            else dm.Location(technician.home_latitude, technician.home_longitude)
        )
        busy = on_site.get(technician.pk)
        if busy is not None and busy.location is not None:
            # Still at a job: free once its service time is over, from that site.
            start_location = busy.location
            done_at = _on_site_since(busy) + dt.timedelta(minutes=busy.service_minutes)
            start_min = max(start_min, int((done_at - now).total_seconds() // 60))
        if start_min >= end_min:
            continue
        lunch = None
        if technician.lunch_start is not None and technician.lunch_minutes:
            lunch_at = dt.datetime.combine(shift_start.date(), technician.lunch_start, tzinfo=shift_start.tzinfo)
            lunch_min = int((lunch_at - now).total_seconds() // 60)
            if lunch_min >= start_min:
                lunch = dm.Break(
                    earliest_start=lunch_min, latest_start=lunch_min + 60, duration=technician.lunch_minutes
                )
        key = technician_key(technician.pk)
        snapshot_technicians[key] = technician
        technicians.append(
            dm.Technician(
                id=key,
                name=technician.name,
                start_node=node(start_location),
                end_node=node(dm.Location(technician.home_latitude, technician.home_longitude)),
                shift_start=start_min,
                shift_end=end_min,
                skills=frozenset(skill_codes.get(technician.pk, ())),
                lunch=lunch,
                max_jobs=technician.max_jobs_per_day,
            )
        )
    jobs: list[dm.Job] = []
    snapshot_orders: dict[str, PlannedOrder] = {}
    skipped: dict[int, str] = {}
    routes: dict[str, list[tuple[int, int, str]]] = {}
    for work_order in orders:
        if work_order.status == Status.ON_SITE:
            continue
        if (
            insert_only is not None
            and work_order.pk != insert_only
            and not (
                work_order.status in (Status.SCHEDULED, Status.EN_ROUTE)
                and technician_key(work_order.technician_id or 0) in snapshot_technicians
            )
        ):
            continue
        site = work_order.location
        if site is None:
            skipped[work_order.pk] = "the address has no map location"
            continue
        tech_key = technician_key(work_order.technician_id) if work_order.technician_id else None
        if work_order.status == Status.EN_ROUTE and tech_key not in snapshot_technicians:
            skipped[work_order.pk] = "the technician is off shift"
            continue
        window = dm.TimeWindow(0, horizon_min)
        if work_order.window_start and work_order.window_end and work_order.window_end > now:
            window = dm.TimeWindow(
                max(0, int((work_order.window_start - now).total_seconds() // 60)),
                min(horizon_min, int((work_order.window_end - now).total_seconds() // 60)),
            )
        locked = work_order.status == Status.EN_ROUTE
        pinned = work_order.pinned and work_order.status == Status.SCHEDULED
        if pinned and tech_key not in snapshot_technicians:
            skipped[work_order.pk] = "pinned to a technician who is off shift"
            continue
        pinned_start = None
        if pinned and work_order.pinned_start is not None and work_order.pinned_start >= now:
            minute = int((work_order.pinned_start - now).total_seconds() // 60)
            if window.contains(minute):
                pinned_start = minute
        key = order_key(work_order.pk)
        snapshot_orders[key] = work_order
        jobs.append(
            dm.Job(
                id=key,
                node=node(site),
                service=work_order.service_minutes,
                windows=(window,),
                skills=frozenset({work_order.skill}) if work_order.skill else frozenset(),
                priority=PRIORITY_RANK[work_order.priority],
                complaint=work_order.complaint,
                sla_deadline=None
                if work_order.created_at is None
                else max(
                    0, int((work_order.created_at + SLA_BY_PRIORITY[work_order.priority] - now).total_seconds() // 60)
                ),
                # Moving an order to another technician is free unless it is pinned or locked:
                # what the customer was told is the window, not the person.
                pinned_technician_id=tech_key if locked or pinned else None,
                pinned_start=pinned_start,
                locked=locked,
                promised_window=_promised_minutes(work_order, now=now, horizon=horizon_min),
                ready=_ready_minute(work_order, now=now),
            )
        )
        if tech_key in snapshot_technicians and work_order.status in (Status.SCHEDULED, Status.EN_ROUTE):
            rank = 0 if locked else 1
            routes.setdefault(tech_key, []).append(
                (rank, work_order.route_position if work_order.route_position is not None else 9999, key)
            )
    sequences = {tech: [key for *_, key in sorted(items)] for tech, items in routes.items()}
    provider = travel_provider()
    target = next((job.node for job in jobs if job.id == order_key(insert_only or 0)), None)
    # A full matrix, or the sparse one placing an order reads (dm.Problem takes either).
    durations: Any
    if insert_only is not None and target is not None and hasattr(provider, "pair_minutes"):
        durations = _sparse_durations(
            points,
            provider,
            now=now,
            target=target,
            technicians=technicians,
            job_nodes={job.id: job.node for job in jobs},
            sequences=sequences,
        )
    else:
        durations = provider.durations(points, depart_minute=minute_of_day(now)) if points else []
    # Plan minutes count from now; reasons the optimizer writes ("would arrive 14:05") show
    # the local clock.
    problem = dm.Problem(
        technicians=tuple(technicians), jobs=tuple(jobs), durations=durations, minute_zero=minute_of_day(now)
    )
    if insert_only is None:
        problem.validate()
    return Snapshot(
        origin=now,
        problem=problem,
        technicians=snapshot_technicians,
        orders=snapshot_orders,
        routes=sequences,
        skipped=skipped,
        route_versions=route_versions,
        inconsistencies=inconsistencies,
    )


def _promised_minutes(work_order: PlannedOrder, *, now: dt.datetime, horizon: int) -> dm.TimeWindow | None:
    """The promised window in plan minutes (clamped to the horizon; a passed one is ``[0, 0]``)."""
    if work_order.promised_start is None or work_order.promised_end is None:
        return None
    start = int((work_order.promised_start - now).total_seconds() // 60)
    end = int((work_order.promised_end - now).total_seconds() // 60)
    return dm.TimeWindow(min(max(0, start), horizon), min(max(0, end), horizon))


def _ready_minute(work_order: PlannedOrder, *, now: dt.datetime) -> int | None:
    """When the customer started waiting: the call, or the start of their own window if later."""
    if work_order.created_at is None:
        return None
    ready = work_order.created_at
    if work_order.window_start is not None and work_order.window_start > ready:
        ready = work_order.window_start
    return int((ready - now).total_seconds() // 60)


_IN_PROGRESS = (Status.EN_ROUTE, Status.ON_SITE)


def _consistent(
    orders: list[PlannedOrder],
    names: dict[int, str],
) -> tuple[list[PlannedOrder], list[str]]:
    """Leave out orders whose data breaks the rules, saying which and why.

    A technician has at most one order on the way or on site: of several (older code allowed a
    second "on my way"), the one on site, else the earliest on the route, is kept. An order on a
    route with no technician is planned afresh (scheduled) or left out (on the way).
    """
    problems: list[str] = []
    by_technician: dict[int, list[PlannedOrder]] = {}
    kept: list[PlannedOrder] = []
    for work_order in orders:
        if work_order.status in _PLANNED_STATUSES and work_order.technician_id is None:
            if work_order.status == Status.SCHEDULED:
                problems.append(f"WO-{work_order.pk:06d} is scheduled with no technician; planned afresh")
                kept.append(replace(work_order, status=Status.NEW))
            else:
                problems.append(
                    f"WO-{work_order.pk:06d} is '{work_order.status}' with no technician; left out of planning"
                )
            continue
        if work_order.status in _IN_PROGRESS and work_order.technician_id is not None:
            by_technician.setdefault(work_order.technician_id, []).append(work_order)
            continue
        kept.append(work_order)
    for technician_id, busy in by_technician.items():
        busy.sort(
            key=lambda wo: (
                wo.status != Status.ON_SITE,
                wo.route_position if wo.route_position is not None else 9999,
                wo.pk,
            )
        )
        kept.append(busy[0])
        for extra in busy[1:]:
            problems.append(
                f"WO-{extra.pk:06d}: {names.get(technician_id, technician_id)} already has "
                f"WO-{busy[0].pk:06d} in progress; left out of planning until one is finished"
            )
    kept.sort(key=lambda wo: wo.pk)
    return kept, problems


def _sparse_durations(
    points: list[dm.Location],
    provider: Any,
    *,
    now: dt.datetime,
    target: int,
    technicians: list[dm.Technician],
    job_nodes: dict[str, int],
    sequences: dict[str, list[str]],
) -> dm.SparseMatrix:
    matrix = dm.SparseMatrix(len(points), UNKNOWN_MINUTES)
    wanted: set[tuple[int, int]] = {(target, other) for other in range(len(points)) if other != target}
    for technician in technicians:
        stops = [
            technician.start_node,
            *(job_nodes[key] for key in sequences.get(technician.id, [])),
            technician.end_node if technician.end_node is not None else technician.start_node,
        ]
        wanted.update((a, b) for a, b in zip(stops, stops[1:], strict=False) if a != b)
    pairs = sorted(wanted)
    minutes = provider.pair_minutes([(points[a], points[b]) for a, b in pairs], depart_minute=minute_of_day(now))
    for (a, b), value in zip(pairs, minutes, strict=True):
        matrix.set(a, b, value)
        matrix.set(b, a, value)
    return matrix


def current_plan(snapshot: Snapshot) -> Plan:
    """The plan the database holds, timed from now.

    A route that no longer fits as a whole (a window passed, a job ran long) keeps the jobs that
    still fit in order; the others are reported unassigned for the re-plan to place. (On an
    ``insert_only`` snapshot the kept part can come out shorter than it could be: the legs
    that skip a stop were not computed. Placing an order treats such a technician as full.)
    """
    problem = snapshot.problem
    routes: list[Route] = []
    unassigned: list[Unassigned] = []
    routed: set[str] = set()
    for technician in problem.technicians:
        sequence = [problem.job(key) for key in snapshot.routes.get(technician.id, [])]
        route = build_route(problem, technician, sequence) if sequence else None
        if route is None and sequence:
            kept: list = []
            for job in sequence:
                if build_route(problem, technician, [*kept, job]) is not None:
                    kept.append(job)
                else:
                    unassigned.append(Unassigned(job.id, "no_room", "no longer fits its planned route"))
            route = build_route(problem, technician, kept) if kept else None
        if route is not None:
            routes.append(route)
            routed.update(route.job_ids)
    listed = routed | {item.job_id for item in unassigned}
    unassigned += [Unassigned(job.id, "unplanned", "not planned yet") for job in problem.jobs if job.id not in listed]
    plan = Plan(routes=tuple(routes), unassigned=tuple(unassigned), objective=0)
    return Plan(routes=plan.routes, unassigned=plan.unassigned, objective=plan_objective(problem, plan))
