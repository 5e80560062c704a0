"""Urgent insertion: put one new job into a live plan without re-optimising.

Each route is summarised once by a forward pass (earliest departure from every
stop) and a backward pass (latest feasible start of every stop given the rest
of the route), so checking one insertion position costs O(1). The lunch break
is not tied to its current gap: both passes carry a "break taken" and a "break
still ahead" label, so an insertion may move the break anywhere in the route.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from dispatch.model import Break, Job, Problem, Technician
from dispatch.result import Candidate, Explanation, Plan, Route, Unassigned, plan_objective
from dispatch.schedule import (
    NEG_INF,
    break_gap_of,
    build_route,
    earliest_in,
    latest_departure,
    latest_in,
    route_time_cost,
)

__all__ = ["Insertion", "apply_insertion", "insert_by_exchange", "insert_job"]

INF = -NEG_INF


@dataclass(frozen=True, slots=True)
class Insertion:
    """Result of :func:`insert_job`.

    Attributes
    ----------
    technician_id
        Chosen technician, or ``None`` when the job fits nowhere.
    position
        Index in the technician's visits where the job goes.
    arrival, start
        Arrival and service start at that position.
    added_travel
        Extra travel cost.
    candidates
        One :class:`Candidate` per technician, in problem order.
    reason
        Readable summary of the decision.
    job_id
        The job inserted.
    """

    technician_id: str | None
    position: int | None
    arrival: int | None
    start: int | None
    added_travel: int | None
    candidates: tuple[Candidate, ...]
    reason: str
    job_id: str = ""


class _RouteState:
    """Forward/backward summary of one technician's route.

    The break floats: for every stop we keep two labels, "break not taken
    yet" (``nb``) and "break already taken" (``b``). ``dep_*[i]`` is the
    earliest departure from stop ``i``; ``late_*[i]`` the latest service start
    at stop ``i`` that still lets the rest of the route (and the break, for
    ``nb``) fit. Without a lunch only the ``b`` labels are used.
    """

    __slots__ = (
        "tech",
        "jobs",
        "nodes",
        "dep_b",
        "dep_nb",
        "late_b",
        "late_nb",
        "load",
        "route",
        "locked",
        "starts",
        "costs",
        "soft_from",
        "break_before",
    )

    def __init__(self, problem: Problem, tech: Technician, route: Route | None) -> None:
        self.tech = tech
        self.route = route
        self.jobs = [problem.job(v.job_id) for v in route.visits] if route else []
        jobs = self.jobs
        n = len(jobs)
        self.nodes = nodes = [tech.start_node] + [j.node for j in jobs] + [tech.home_node]
        self.load = sum(j.demand for j in jobs)
        self.locked = bool(jobs) and jobs[0].locked
        d = problem.durations
        lunch = tech.lunch

        dep_b = [INF] * (n + 1)
        dep_nb = [INF] * (n + 1)
        if lunch is None:
            dep_b[0] = tech.ready_time
        else:
            dep_nb[0] = tech.ready_time
        for i in range(1, n + 1):
            job = jobs[i - 1]
            w = job.start_windows()
            t = d[nodes[i - 1]][nodes[i]]
            dep_b[i] = _depart(w, dep_b[i - 1] + t, job.service)
            if lunch is not None and dep_nb[i - 1] < INF:
                dep_nb[i] = _depart(w, dep_nb[i - 1] + t, job.service)
                via = _depart_after_break(w, dep_nb[i - 1], t, job.service, lunch)
                dep_b[i] = min(dep_b[i], via)
        self.dep_b, self.dep_nb = dep_b, dep_nb

        late_b = [NEG_INF] * (n + 2)
        late_nb = [NEG_INF] * (n + 2)
        late_b[n + 1] = tech.shift_end
        for i in range(n, 0, -1):
            job = jobs[i - 1]
            w = job.start_windows()
            t = d[nodes[i]][nodes[i + 1]]
            late_b[i] = _latest_start(w, late_b[i + 1] - t, job.service)
            if lunch is not None:
                late_nb[i] = max(
                    _latest_start(w, late_nb[i + 1] - t, job.service),
                    _latest_start(w, latest_departure(late_b[i + 1], t, tech, True), job.service),
                )
        self.late_b, self.late_nb = late_b, late_nb

        # For the cost of delaying later stops: their planned starts and time costs
        # (waiting, lateness, promised window), and whether any stop from index i on has
        # such a cost (when none has, a delay costs nothing and is not followed).
        visits = route.visits if route is not None else ()
        self.starts = [v.start for v in visits]
        soft_from = [False] * (n + 1)
        for i in range(n - 1, -1, -1):
            soft_from[i] = soft_from[i + 1] or problem.has_time_cost(jobs[i])
        self.soft_from = soft_from
        self.costs = (
            [problem.time_cost(j, v.start) for j, v in zip(jobs, visits, strict=True)] if soft_from[0] else [0] * n
        )
        # Index of the stop before which the lunch break is taken (None: no break ahead).
        gap = break_gap_of(route) if route is not None and lunch is not None else None
        self.break_before = gap


def _delay_cost(problem: Problem, st: _RouteState, pos: int, end_u: int, t2: int, break_ahead: bool) -> int:
    """Change in the time costs (waiting, lateness, promised window) of the stops from
    ``pos`` (0-based) on when a job ending at ``end_u``, ``t2`` from stop ``pos``, is
    inserted before it.

    Follows the delay stop by stop until a stop keeps its planned start (every later stop
    then does too): a new start is the later of the planned one and the earliest after the
    delayed departure. With ``break_ahead`` (the new job is served before the lunch break)
    the break is taken where the route had it, or right after the new job if it had it
    earlier; otherwise no break lies ahead.
    """
    n = len(st.jobs)
    if pos >= n or not st.soft_from[pos]:
        return 0
    lunch = st.tech.lunch
    brk: int | None = None
    if break_ahead and lunch is not None:
        brk = pos if st.break_before is None else max(pos, st.break_before)
    d = problem.durations
    jobs, starts, costs = st.jobs, st.starts, st.costs
    dep = end_u
    prev = -1
    total = 0
    for k in range(pos, n):
        job = jobs[k]
        arrival = dep + (t2 if k == pos else d[prev][job.node])
        if k == brk and lunch is not None:
            b = max(dep, lunch.earliest_start)
            if b < arrival:
                arrival += lunch.duration
            arrival = max(arrival, b + lunch.duration)
        if arrival <= starts[k]:
            break
        start = earliest_in(job.start_windows(), arrival)
        if start is None:  # cannot happen for a feasible insertion; cost it as unknown
            break
        total += problem.time_cost(job, start) - costs[k]
        dep = start + job.service
        prev = job.node
    return total


def _depart(windows: tuple[tuple[int, int], ...] | None, arrival: int, service: int) -> int:
    if arrival >= INF:
        return INF
    s = earliest_in(windows, arrival)
    return INF if s is None else s + service


def _depart_after_break(
    windows: tuple[tuple[int, int], ...] | None,
    dep: int,
    travel: int,
    service: int,
    lunch: Break,
) -> int:
    b = max(dep, lunch.earliest_start)
    if b > lunch.latest_start:
        return INF
    arrival = dep + travel + (lunch.duration if b < dep + travel else 0)
    return _depart(windows, max(arrival, b + lunch.duration), service)


def _latest_start(windows: tuple[tuple[int, int], ...] | None, dep: int, service: int) -> int:
    if dep <= NEG_INF:
        return NEG_INF
    z = latest_in(windows, dep - service)
    return NEG_INF if z is None else z


def _insert_here(
    windows: tuple[tuple[int, int], ...] | None,
    service: int,
    t1: int,
    t2: int,
    dep_b: int,
    dep_nb: int,
    late_b: int,
    late_nb: int,
    tech: Technician,
    lunch: Break | None,
) -> tuple[int | None, int, bool]:
    """Earliest feasible service start (and arrival) of a job put into one gap.

    Tries the break already taken, taken just before or just after the new
    job, or still ahead; returns ``(None, 0, False)`` when none fits. The flag
    says whether the break is still ahead after the new job.
    """
    best: int | None = None
    best_arrival = 0
    ahead = False
    if dep_b < INF:  # break behind us (or no lunch at all)
        s = earliest_in(windows, dep_b + t1)
        if s is not None and s + service + t2 <= late_b:
            best, best_arrival = s, dep_b + t1
    if lunch is None or dep_nb >= INF:
        return best, best_arrival, ahead
    arrival = dep_nb + t1
    s = earliest_in(windows, arrival)
    if (
        s is not None
        and (best is None or s < best)
        and (s + service + t2 <= late_nb or s + service <= latest_departure(late_b, t2, tech, True))
    ):
        best, best_arrival, ahead = s, arrival, True
    b = max(dep_nb, lunch.earliest_start)
    if b <= lunch.latest_start:
        arrival = dep_nb + t1 + (lunch.duration if b < dep_nb + t1 else 0)
        s = earliest_in(windows, max(arrival, b + lunch.duration))
        if s is not None and (best is None or s < best) and s + service + t2 <= late_b:
            best, best_arrival, ahead = s, arrival, False
    return best, best_arrival, ahead


@dataclass(slots=True)
class _Best:
    position: int
    arrival: int
    start: int
    travel: int
    added: int
    lateness: int
    score: int


class _Evaluator:
    """Insertion costs of jobs into the routes of a fixed plan."""

    def __init__(self, problem: Problem, plan: Plan, closed: Mapping[str, str] | None = None) -> None:
        self.problem = problem
        self.closed = dict(closed or {})
        by_tech = {r.technician_id: r for r in plan.routes}
        self.states = [_RouteState(problem, t, by_tech.get(t.id)) for t in problem.technicians]
        self._by_id = {st.tech.id: st for st in self.states}

    def refresh(self, plan: Plan, technician_id: str) -> None:
        """Take one technician's route from ``plan`` (after an insertion)."""
        k = self.problem.technician_index(technician_id)
        st = _RouteState(self.problem, self.states[k].tech, plan.route_of(technician_id))
        self.states[k] = st
        self._by_id[technician_id] = st

    def copy(self) -> _Evaluator:
        """An evaluator sharing this one's route summaries (refresh replaces, never mutates)."""
        other = object.__new__(_Evaluator)
        other.problem = self.problem
        other.closed = self.closed
        other.states = list(self.states)
        other._by_id = dict(self._by_id)
        return other

    def state_of(self, technician_id: str) -> _RouteState:
        """Route summary of one technician."""
        return self._by_id[technician_id]

    def candidates(
        self, job: Job, skip: str | None = None, among: set[str] | None = None
    ) -> list[tuple[Candidate, _Best | None]]:
        """Best position per technician, in problem order, leaving out ``skip``
        and, when ``among`` is given, everyone not in it."""
        return [
            self._for_state(job, st)
            for st in self.states
            if st.tech.id != skip and (among is None or st.tech.id in among)
        ]

    def _for_state(self, job: Job, st: _RouteState) -> tuple[Candidate, _Best | None]:
        p = self.problem
        tech = st.tech
        fmt = p.format_time

        def no(
            reason: str, skill_ok: bool = True, arrival: int | None = None, travel: int | None = None, lateness: int = 0
        ) -> tuple[Candidate, None]:
            return Candidate(tech.id, tech.label, skill_ok, False, travel, arrival, lateness, None, reason), None

        missing = job.skills - tech.skills
        if missing:
            names = ", ".join(f"'{s}'" for s in sorted(missing))
            return no(f"no skill {names}", skill_ok=False)
        if tech.id in self.closed:
            return no(self.closed[tech.id])
        if job.pinned_technician_id is not None and job.pinned_technician_id != tech.id:
            verb = "locked" if job.locked else "pinned"
            other = p.technician(job.pinned_technician_id).label
            return no(f"job is {verb} to {other}")
        windows = job.start_windows()
        if windows is not None and (windows[-1][1] < tech.ready_time or windows[0][0] > tech.shift_end):
            return no(f"off shift (available {fmt(tech.ready_time)}-{fmt(tech.shift_end)})")
        n = len(st.jobs)
        if tech.max_jobs is not None and n + 1 > tech.max_jobs:
            return no(f"fully booked ({n} of {tech.max_jobs} jobs)")
        if tech.capacity is not None and st.load + job.demand > tech.capacity:
            left = tech.capacity - st.load
            return no(f"not enough capacity (needs {job.demand}, {left} left)")
        if job.locked and st.locked:
            return no("already has a job in progress")

        d = p.durations
        c = p.cost_matrix
        u = job.node
        su = job.service
        lunch = tech.lunch
        soft = self._fixed_soft_cost(job, tech)
        best: _Best | None = None
        window_miss: int | None = None
        window_travel: int | None = None
        downstream = False
        first = 1 if st.locked else 0
        last = 0 if job.locked else n
        nodes = st.nodes
        dep_b, dep_nb, late_b, late_nb = st.dep_b, st.dep_nb, st.late_b, st.late_nb
        for pos in range(first, last + 1):
            a_node, b_node = nodes[pos], nodes[pos + 1]
            t1 = d[a_node][u]
            t2 = d[u][b_node]
            start, arrival, ahead = _insert_here(
                windows,
                su,
                t1,
                t2,
                dep_b[pos],
                dep_nb[pos],
                late_b[pos + 1],
                late_nb[pos + 1],
                tech,
                lunch,
            )
            if start is None:
                reach = min(dep_b[pos], dep_nb[pos]) + t1
                if reach < INF and earliest_in(windows, reach) is None:
                    if window_miss is None or reach < window_miss:
                        window_miss, window_travel = reach, t1
                else:
                    downstream = True
                continue
            added = c[a_node][u] + c[u][b_node] - (c[a_node][b_node] if n else 0)
            lateness = 0
            if job.sla_deadline is not None:
                lateness = max(0, start + su - job.sla_deadline)
            score = added + soft + p.time_cost(job, start)
            if pos < n:
                score += _delay_cost(p, st, pos, start + su, t2, ahead)
            if best is None or (score, start) < (best.score, best.start):
                best = _Best(pos, arrival, start, t1, added, lateness, score)
        if best is not None:
            reason = f"arrives {fmt(best.arrival)}, adds {best.added} travel"
            if best.lateness:
                reason += f", {best.lateness} past the SLA deadline"
            return Candidate(
                tech.id, tech.label, True, True, best.travel, best.arrival, best.lateness, best.added, reason
            ), best
        if downstream:
            return no(f"no room: would make a later visit late or end the day after {fmt(tech.shift_end)}")
        if window_miss is not None and windows is not None:
            end = windows[-1][1]
            return no(
                f"would arrive {fmt(window_miss)}, window ends {fmt(end)}",
                arrival=window_miss,
                travel=window_travel,
                lateness=max(0, window_miss - end),
            )
        return no("no feasible position")

    def _fixed_soft_cost(self, job: Job, tech: Technician) -> int:
        if job.promised_technician_id is not None and job.promised_technician_id != tech.id:
            return self.problem.broken_promise_penalty()
        return 0


def insert_job(
    problem: Problem,
    plan: Plan,
    job_id: str,
    *,
    prefer_earliest: bool = False,
    closed: Mapping[str, str] | None = None,
) -> Insertion:
    """Cheapest feasible insertion of one job into a live plan.

    Parameters
    ----------
    problem
        The problem; must contain the job.
    plan
        The current plan; must not route the job yet.
    job_id
        The job to place.
    prefer_earliest
        Pick the earliest service start instead of the lowest added cost.
    closed
        Technicians who take no new job, with the reason their candidate gives (e.g. their
        route in ``plan`` is only the part of their real day that still fits).

    Returns
    -------
    Insertion
        The chosen technician and position (``technician_id`` is ``None`` when
        no technician can take the job) plus one candidate per technician.
        The default choice minimises added travel cost plus the new job's waiting,
        SLA lateness and promise penalties, plus what its delay adds to the waiting,
        lateness and promised-window costs of the later visits on that route (which
        stay within their windows).

    Raises
    ------
    KeyError
        If the job is not in the problem.
    ValueError
        If the plan already routes the job.
    """
    job = problem.job(job_id)
    if plan.assignment_of(job_id) is not None:
        raise ValueError(f"job {job_id!r} is already in the plan")
    return _choose(problem, _Evaluator(problem, plan, closed), job, prefer_earliest)


def _choose(problem: Problem, ev: _Evaluator, job: Job, prefer_earliest: bool) -> Insertion:
    results = ev.candidates(job)
    feasible = [(c, b) for c, b in results if b is not None]
    if not feasible:
        cands = tuple(c for c, _ in results)
        return Insertion(None, None, None, None, None, cands, _nobody(cands), job.id)
    if prefer_earliest:
        chosen, best = min(feasible, key=lambda cb: (cb[1].start, cb[1].score))
    else:
        chosen, best = min(feasible, key=lambda cb: (cb[1].score, cb[1].start))
    assert best is not None
    cands = tuple(_relative(problem, job, c, b, chosen, best, ev) for c, b in results)
    reason = (
        f"{chosen.technician_name}, stop {best.position + 1}: arrives "
        f"{problem.format_time(best.arrival)}, adds {best.added} travel"
    )
    return Insertion(chosen.technician_id, best.position, best.arrival, best.start, best.added, cands, reason, job.id)


def _relative(
    problem: Problem,
    job: Job,
    c: Candidate,
    b: _Best | None,
    chosen: Candidate,
    best: _Best,
    ev: _Evaluator,
) -> Candidate:
    """Phrase a candidate against the chosen one (e.g. "nearer but fully booked")."""
    if c.technician_id == chosen.technician_id:
        return replace(c, reason="chosen: " + c.reason)
    if b is not None:
        extra = b.added - best.added
        if extra >= 0:
            return replace(c, reason=f"{c.reason} ({extra} more than {chosen.technician_name})")
        return replace(c, reason=f"{c.reason} (less travel, but later or costlier overall)")
    if c.skill_ok and c.reason.startswith(("fully booked", "no room", "not enough capacity")):
        st = ev.state_of(c.technician_id)
        nearest = min(problem.durations[n][job.node] for n in st.nodes)
        if nearest < best.travel:
            return replace(c, reason="nearer but " + c.reason)
    return c


def _nobody(cands: tuple[Candidate, ...]) -> str:
    skilled = [c for c in cands if c.skill_ok]
    if not skilled:
        return "no technician has the required skills"
    parts = [f"{c.technician_name}: {c.reason}" for c in skilled[:4]]
    more = "" if len(skilled) <= 4 else f"; and {len(skilled) - 4} more"
    return "no technician can take it (" + "; ".join(parts) + more + ")"


def insert_by_exchange(
    problem: Problem,
    plan: Plan,
    job_id: str,
    ev: _Evaluator | None = None,
    *,
    deadline: float | None = None,
    first: bool = False,
) -> Plan | None:
    """Place a job that fits nowhere by moving one routed job to another technician.

    For every route of a technician who may do the job, and every movable stop on it (not
    locked or pinned), the job is tried in that route without the stop; if it fits, the
    displaced job is offered to everyone by cheapest insertion. The first exchange that
    serves both and lowers the plan objective most is returned (an ejection chain of length
    one, what a dispatcher does by hand: "give Li's 15:00 to Wang, then Li can take this
    one"). At the deadline the best exchange found so far is returned.

    Parameters
    ----------
    problem, plan
        The day and its plan; ``job_id`` must be unassigned in it.
    ev
        An evaluator of ``plan`` to reuse (not modified).
    deadline
        ``time.monotonic()`` value after which the search gives up.
    first
        Return the first exchange that serves both instead of the cheapest (routes passing
        nearest the job are tried first).

    Returns
    -------
    Plan | None
        The new plan, or ``None`` if no single exchange works.
    """
    job = problem.job(job_id)
    ev = ev or _Evaluator(problem, plan)
    best_plan: Plan | None = None
    bound = plan.objective or plan_objective(problem, plan)
    d = problem.durations
    for st in sorted(ev.states, key=lambda st: min(d[n][job.node] for n in st.nodes)):
        tech = st.tech
        if not st.jobs or not job.skills <= tech.skills:
            continue
        if job.pinned_technician_id not in (None, tech.id):
            continue
        for k, moved in enumerate(st.jobs):
            if deadline is not None and time.monotonic() > deadline:
                return best_plan
            if moved.locked or moved.pinned_technician_id is not None:
                continue
            shorter = build_route(problem, tech, st.jobs[:k] + st.jobs[k + 1 :])
            if shorter is None:
                continue
            _, best = ev._for_state(job, _RouteState(problem, tech, shorter))
            if best is None:
                continue
            routes = tuple(shorter if r.technician_id == tech.id else r for r in plan.routes)
            freed = Plan(routes, plan.unassigned + (Unassigned(moved.id, "no_room", "moved"),), 0)
            step = Insertion(tech.id, best.position, best.arrival, best.start, best.added, (), "", job.id)
            try:
                with_job = apply_insertion(problem, freed, step)
            except ValueError:
                continue
            ev2 = ev.copy()
            ev2.refresh(with_job, tech.id)
            again = _choose(problem, ev2, moved, False)
            if again.technician_id is None:
                continue
            result = apply_insertion(problem, with_job, again)
            if result.objective < bound:
                best_plan, bound = result, result.objective
                if first:
                    return best_plan
    return best_plan


def apply_insertion(problem: Problem, plan: Plan, insertion: Insertion) -> Plan:
    """Return a new plan with the inserted job and recomputed times.

    Parameters
    ----------
    problem
        The problem.
    plan
        The plan :func:`insert_job` was computed on.
    insertion
        A successful insertion (``technician_id`` set).

    Returns
    -------
    Plan
        The new plan; the job leaves ``unassigned`` and its explanation is the
        insertion's candidate list. Other explanations are kept as they were.

    Raises
    ------
    ValueError
        If the insertion found no technician or no longer fits the plan.
    """
    if insertion.technician_id is None or insertion.position is None:
        raise ValueError(f"nothing to apply: {insertion.reason}")
    job = problem.job(insertion.job_id)
    tech = problem.technician(insertion.technician_id)
    old = plan.route_of(tech.id)
    jobs = [problem.job(v.job_id) for v in old.visits] if old else []
    pos = insertion.position
    jobs.insert(pos, job)
    route: Route | None = None
    if tech.lunch is not None and old is not None and old.visits:
        gap = break_gap_of(old)
        options = [gap] if gap is None or gap < pos else [gap + 1] if gap > pos else [gap, gap + 1]
        best_key = (0, 0)
        for g in options:
            r = build_route(problem, tech, jobs, break_gap=g)
            if r is None:
                continue
            key = (route_time_cost(problem, r), r.end_time)
            if route is None or key < best_key:
                route, best_key = r, key
    if route is None:
        route = build_route(problem, tech, jobs)
    if route is None:
        raise ValueError(f"job {job.id!r} no longer fits {tech.id!r} at position {pos}")
    routes = [r for r in plan.routes if r.technician_id != tech.id]
    index = next((i for i, r in enumerate(plan.routes) if r.technician_id == tech.id), None)
    routes.insert(len(routes) if index is None else index, route)
    unassigned = tuple(u for u in plan.unassigned if u.job_id != job.id)
    explanations = dict(plan.explanations)
    explanations[job.id] = Explanation(tech.id, insertion.candidates)
    new = Plan(tuple(routes), unassigned, 0, explanations)
    return replace(new, objective=plan_objective(problem, new))
