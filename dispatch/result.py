"""Plans returned by the optimizer, an independent plan checker and the objective.

:func:`check_plan` deliberately re-derives every time from the matrix and the
input instead of reusing the scheduler, so that it can catch scheduler and
solver bugs alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dispatch.model import Job, Problem, Technician

__all__ = [
    "Candidate",
    "Explanation",
    "Plan",
    "Route",
    "Unassigned",
    "Visit",
    "check_plan",
    "plan_objective",
]


@dataclass(frozen=True, slots=True)
class Visit:
    """One job on a route.

    Attributes
    ----------
    job_id
        The job.
    arrival
        When the technician reaches the site: previous departure plus travel,
        plus the break when it is taken before arriving.
    start, end
        Service start and end (``end = start + service``).
    travel
        Travel time from the previous stop.
    """

    job_id: str
    arrival: int
    start: int
    end: int
    travel: int


@dataclass(frozen=True, slots=True)
class Route:
    """A technician's day.

    Attributes
    ----------
    technician_id
        The technician.
    visits
        Jobs in order.
    break_start
        Start of the lunch break, or ``None``.
    start_time
        Departure from the start node.
    end_time
        Arrival at the end node.
    travel_total
        Travel time including the return to the end node.
    travel_cost
        Same legs priced with the cost matrix.
    """

    technician_id: str
    visits: tuple[Visit, ...]
    break_start: int | None
    start_time: int
    end_time: int
    travel_total: int
    travel_cost: int = 0

    @property
    def job_ids(self) -> tuple[str, ...]:
        """Job ids in visiting order."""
        return tuple(v.job_id for v in self.visits)


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A job left out of the plan, with a machine code and a readable reason.

    Codes: ``no_skilled_technician``, ``pin_conflict``, ``locked_infeasible``,
    ``infeasible`` (fits no technician's day even when empty) and ``no_room``
    (would fit an empty day, but not this plan).
    """

    job_id: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """What giving a job to one technician would look like.

    Attributes
    ----------
    technician_id, technician_name
        The technician compared.
    skill_ok
        Whether the technician has every required skill.
    feasible
        Whether the job fits the technician's route (all hard constraints).
    travel
        Travel time from the previous stop at the best position (``None`` if
        no position could be evaluated).
    arrival
        Arrival at the best position; for a window-infeasible technician, the
        earliest possible arrival.
    lateness
        For feasible candidates, time past the SLA deadline; otherwise how far
        the earliest arrival misses the last window (0 when not applicable).
    added_travel
        Extra travel cost of the insertion; for the chosen technician, the cost
        the job adds to its current route.
    reason
        A short sentence for a dispatcher.
    """

    technician_id: str
    technician_name: str
    skill_ok: bool
    feasible: bool
    travel: int | None
    arrival: int | None
    lateness: int
    added_travel: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a job went where it went: one :class:`Candidate` per technician."""

    chosen_technician_id: str | None
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A complete plan.

    Attributes
    ----------
    routes
        One route per technician who has work (idle technicians may be absent).
    unassigned
        Jobs left out, each with a reason.
    objective
        :func:`plan_objective` of the plan (lower is better).
    explanations
        Per job id, the technicians compared for it (filled by ``solve`` unless
        asked not to; see :func:`dispatch.explain.explain_job`).
    """

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    objective: int
    explanations: Mapping[str, Explanation] = field(default_factory=dict)
    _visits: dict[str, tuple[str, Visit]] | None = field(default=None, init=False, repr=False, compare=False)

    def assignment_of(self, job_id: str) -> tuple[str, Visit] | None:
        """Return ``(technician_id, visit)`` for a routed job, else ``None``."""
        if self._visits is None:
            index = {v.job_id: (r.technician_id, v) for r in self.routes for v in r.visits}
            object.__setattr__(self, "_visits", index)
        assert self._visits is not None
        return self._visits.get(job_id)

    def route_of(self, technician_id: str) -> Route | None:
        """Return the technician's route, or ``None`` if they have none."""
        for route in self.routes:
            if route.technician_id == technician_id:
                return route
        return None

    def unassigned_of(self, job_id: str) -> Unassigned | None:
        """Return the unassigned entry of a job, or ``None``."""
        for u in self.unassigned:
            if u.job_id == job_id:
                return u
        return None

    @property
    def routed_job_ids(self) -> frozenset[str]:
        """Ids of all jobs on some route."""
        return frozenset(v.job_id for r in self.routes for v in r.visits)


def plan_objective(problem: Problem, plan: Plan) -> int:
    """Objective value of a plan (lower is better).

    Sum of travel costs of non-empty routes (idle technicians cost nothing),
    drop penalties of unassigned jobs, waiting (from ``Job.ready``), SLA lateness,
    broken promises (another technician) and promised-window deviations, with
    :class:`Weights` (see :meth:`Problem.time_cost`).

    Parameters
    ----------
    problem
        The problem the plan answers.
    plan
        The plan; its ``objective`` field is ignored.

    Returns
    -------
    int
        The objective.
    """
    c = problem.cost_matrix
    total = 0
    promise_penalty = problem.broken_promise_penalty()
    for route in plan.routes:
        if not route.visits:
            continue
        tech = problem.technician(route.technician_id)
        node = tech.start_node
        for v in route.visits:
            job = problem.job(v.job_id)
            total += c[node][job.node]
            node = job.node
            total += _soft_cost(problem, job, v, tech, promise_penalty)
        total += c[node][tech.home_node]
    for u in plan.unassigned:
        if problem.has_job(u.job_id):
            total += problem.drop_penalty(problem.job(u.job_id))
    return total


def _soft_cost(problem: Problem, job: Job, visit: Visit, tech: Technician, promise_penalty: int) -> int:
    cost = problem.time_cost(job, visit.start)
    if job.promised_technician_id is not None and job.promised_technician_id != tech.id:
        cost += promise_penalty
    return cost


def check_plan(problem: Problem, plan: Plan) -> list[str]:
    """Independently verify a plan against the problem.

    Recomputes travel and times from the matrix and checks: every job routed
    at most once and either routed or unassigned, unknown ids, skills, time
    windows, pins, locks, shifts (including the return to the end node),
    breaks, ``max_jobs`` and capacity, and the consistency of reported times.

    Parameters
    ----------
    problem
        The problem the plan claims to solve.
    plan
        The plan to check.

    Returns
    -------
    list[str]
        One message per violation; empty means the plan is valid.
    """
    errors: list[str] = []
    d = problem.durations
    seen: dict[str, str] = {}
    techs_seen: set[str] = set()
    for route in plan.routes:
        tid = route.technician_id
        if not problem.has_technician(tid):
            errors.append(f"route for unknown technician {tid!r}")
            continue
        if tid in techs_seen:
            errors.append(f"technician {tid!r} has more than one route")
        techs_seen.add(tid)
        for v in route.visits:
            if not problem.has_job(v.job_id):
                errors.append(f"{tid}: unknown job {v.job_id!r}")
            elif v.job_id in seen:
                errors.append(f"job {v.job_id!r} is routed more than once")
            seen[v.job_id] = tid
        errors.extend(_check_route(problem, problem.technician(tid), route, d))
    unassigned_ids: set[str] = set()
    for u in plan.unassigned:
        if not problem.has_job(u.job_id):
            errors.append(f"unassigned entry for unknown job {u.job_id!r}")
        elif u.job_id in seen:
            errors.append(f"job {u.job_id!r} is both routed and unassigned")
        elif u.job_id in unassigned_ids:
            errors.append(f"job {u.job_id!r} is listed as unassigned twice")
        if not u.code or not u.reason:
            errors.append(f"unassigned job {u.job_id!r} has no code or reason")
        unassigned_ids.add(u.job_id)
    for job in problem.jobs:
        if job.id not in seen and job.id not in unassigned_ids:
            errors.append(f"job {job.id!r} is neither routed nor reported unassigned")
    return errors


def _check_route(problem: Problem, tech: Technician, route: Route, d: tuple[tuple[int, ...], ...]) -> list[str]:
    errs: list[str] = []
    tid = tech.id
    visits = route.visits
    if route.start_time < tech.ready_time:
        errs.append(f"{tid}: leaves at {route.start_time}, before the technician is available ({tech.ready_time})")
    if route.end_time > tech.shift_end:
        errs.append(f"{tid}: back at {route.end_time}, after the shift end {tech.shift_end}")
    if tech.max_jobs is not None and len(visits) > tech.max_jobs:
        errs.append(f"{tid}: {len(visits)} jobs exceed max_jobs {tech.max_jobs}")
    jobs = [problem.job(v.job_id) for v in visits if problem.has_job(v.job_id)]
    if len(jobs) != len(visits):
        return errs
    if tech.capacity is not None:
        load = sum(j.demand for j in jobs)
        if load > tech.capacity:
            errs.append(f"{tid}: load {load} exceeds capacity {tech.capacity}")

    lunch = tech.lunch
    b = route.break_start
    if lunch is None and b is not None:
        errs.append(f"{tid}: has a break but no lunch is defined")
        b = None
    if lunch is not None and b is None and visits:
        errs.append(f"{tid}: lunch break missing")
    if lunch is not None and b is not None:
        if not lunch.earliest_start <= b <= lunch.latest_start:
            errs.append(f"{tid}: break starts at {b}, outside [{lunch.earliest_start}, {lunch.latest_start}]")
        if b < route.start_time or b + lunch.duration > route.end_time:
            errs.append(f"{tid}: break [{b}, {b + lunch.duration}] is outside the working day")
    bd = lunch.duration if lunch is not None else 0

    prev_node = tech.start_node
    prev_end = route.start_time
    travel_total = 0
    break_gaps = 0
    for k, (v, job) in enumerate(zip(visits, jobs, strict=True)):
        where = f"{tid}: job {job.id!r}"
        if not job.skills <= tech.skills:
            missing = ", ".join(sorted(job.skills - tech.skills))
            errs.append(f"{where}: technician lacks skill(s) {missing}")
        if job.pinned_technician_id is not None and job.pinned_technician_id != tid:
            errs.append(f"{where}: pinned to {job.pinned_technician_id!r}")
        if job.locked and k != 0:
            errs.append(f"{where}: locked job is not the first stop")
        travel = d[prev_node][job.node]
        travel_total += travel
        if v.travel != travel:
            errs.append(f"{where}: travel {v.travel} but the matrix says {travel}")
        in_gap = b is not None and prev_end <= b and b + bd <= v.start
        expected_arrival = prev_end + travel
        if in_gap:
            break_gaps += 1
            assert b is not None
            if b < prev_end + travel:
                expected_arrival += bd
        if v.arrival != expected_arrival:
            errs.append(f"{where}: arrival {v.arrival}, expected {expected_arrival}")
        if v.start < v.arrival:
            errs.append(f"{where}: starts at {v.start} before arriving at {v.arrival}")
        if v.end != v.start + job.service:
            errs.append(f"{where}: ends at {v.end}, expected start + service = {v.start + job.service}")
        if not job.locked:
            if job.windows and not any(w.contains(v.start) for w in job.windows):
                wins = ", ".join(f"[{w.start}, {w.end}]" for w in job.windows)
                errs.append(f"{where}: starts at {v.start}, outside its windows {wins}")
            if job.pinned_start is not None and v.start != job.pinned_start:
                errs.append(f"{where}: starts at {v.start}, pinned to {job.pinned_start}")
        if b is not None and b < v.end and v.start < b + bd:
            errs.append(f"{where}: break [{b}, {b + bd}] overlaps the service")
        prev_node = job.node
        prev_end = v.end
    for job in problem.jobs:
        if job.locked and job.pinned_technician_id == tid and visits and visits[0].job_id != job.id:
            errs.append(f"{tid}: locked job {job.id!r} must be the first stop")
    travel = d[prev_node][tech.home_node]
    travel_total += travel
    earliest_end = prev_end + travel
    if b is not None and prev_end <= b and b + bd <= route.end_time:
        break_gaps += 1
        if b < prev_end + travel:
            earliest_end += bd
        earliest_end = max(earliest_end, b + bd)
    if visits and route.end_time < earliest_end:
        errs.append(f"{tid}: back at {route.end_time}, cannot be before {earliest_end}")
    if b is not None and break_gaps == 0:
        errs.append(f"{tid}: break at {b} does not fit between any two stops")
    if visits and route.travel_total != travel_total:
        errs.append(f"{tid}: travel_total {route.travel_total}, recomputed {travel_total}")
    return errs
