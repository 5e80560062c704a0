"""Timing of a fixed job sequence: earliest feasible schedule of one route.

The break ("lunch") is modelled as taking place in a *gap*: gap ``g`` lies
between stop ``g`` and stop ``g + 1`` where stop 0 is the start node, stops
``1..n`` the jobs and stop ``n + 1`` the end node. Within its gap the break is
taken as early as allowed (``max(departure, earliest_start)``), en route if that
is before arrival, which is never worse than taking it later.
"""

from __future__ import annotations

from collections.abc import Sequence

from dispatch.model import Job, Problem, Technician
from dispatch.result import Route, Visit

__all__ = [
    "break_gap_of",
    "build_route",
    "earliest_in",
    "latest_departure",
    "latest_in",
    "route_time_cost",
]

NEG_INF = -(1 << 62)


def earliest_in(windows: tuple[tuple[int, int], ...] | None, t: int) -> int | None:
    """Earliest allowed start at or after ``t`` (``None`` if none)."""
    if windows is None:
        return t
    for a, b in windows:
        if t <= b:
            return max(t, a)
    return None


def latest_in(windows: tuple[tuple[int, int], ...] | None, t: int) -> int | None:
    """Latest allowed start at or before ``t`` (``None`` if none)."""
    if windows is None:
        return t
    for a, b in reversed(windows):
        if a <= t:
            return min(t, b)
    return None


def break_gap_of(route: Route) -> int | None:
    """Gap index in which a route's break currently lies (``None`` if no break)."""
    if route.break_start is None:
        return None
    gap = 0
    for v in route.visits:
        if v.end <= route.break_start:
            gap += 1
        else:
            break
    return gap


def build_route(
    problem: Problem,
    tech: Technician,
    jobs: Sequence[Job],
    *,
    break_gap: int | None = None,
) -> Route | None:
    """Earliest feasible schedule for visiting ``jobs`` in this order.

    Parameters
    ----------
    problem
        The problem (matrices, weights).
    tech
        The technician driving the route.
    jobs
        Jobs in visiting order (skills and pins are not checked here).
    break_gap
        Gap in which to take the lunch break; ``None`` tries every gap and keeps
        the one with the lowest waiting, lateness and promised-window costs, then
        the one returning earliest. Ignored when the technician has no lunch.

    Returns
    -------
    Route | None
        The timed route, or ``None`` when no schedule satisfies the windows,
        the shift and the break.
    """
    if not jobs:
        return _empty_route(problem, tech)
    if tech.lunch is None:
        return _build(problem, tech, jobs, None)
    gaps = range(len(jobs) + 1) if break_gap is None else (break_gap,)
    timed = any(problem.has_time_cost(j) for j in jobs)
    best: Route | None = None
    best_key: tuple[int, int] = (0, 0)
    for g in gaps:
        if not 0 <= g <= len(jobs):
            continue
        r = _build(problem, tech, jobs, g)
        if r is None:
            continue
        key = (route_time_cost(problem, r) if timed else 0, r.end_time)
        if best is None or key < best_key:
            best, best_key = r, key
    return best


def route_time_cost(problem: Problem, route: Route) -> int:
    """Waiting, lateness and promised-window costs of a route's visits
    (:meth:`Problem.time_cost`)."""
    return sum(problem.time_cost(problem.job(v.job_id), v.start) for v in route.visits)


def _empty_route(problem: Problem, tech: Technician) -> Route:
    d = problem.durations[tech.start_node][tech.home_node]
    c = problem.cost_matrix[tech.start_node][tech.home_node]
    start = tech.ready_time
    return Route(tech.id, (), None, start, start + d, d, c)


def latest_departure(z_next: int, travel: int, tech: Technician, has_break: bool) -> int:
    """Latest departure over a gap so that the next stop can start by ``z_next``; with
    ``has_break`` the technician's lunch is taken in that gap (``NEG_INF``: impossible)."""
    if z_next <= NEG_INF:
        return NEG_INF
    if not has_break:
        return z_next - travel
    lunch = tech.lunch
    assert lunch is not None
    if lunch.earliest_start + lunch.duration > z_next:
        return NEG_INF
    return min(lunch.latest_start, z_next - travel - lunch.duration)


def _build(problem: Problem, tech: Technician, jobs: Sequence[Job], break_gap: int | None) -> Route | None:
    d = problem.durations
    c = problem.cost_matrix
    n = len(jobs)
    nodes = [tech.start_node] + [j.node for j in jobs] + [tech.home_node]
    windows = [j.start_windows() for j in jobs]

    # Backward pass: latest feasible service start of each job.
    latest = [0] * (n + 2)
    latest[n + 1] = tech.shift_end
    for i in range(n, 0, -1):
        dep = latest_departure(latest[i + 1], d[nodes[i]][nodes[i + 1]], tech, break_gap == i)
        if dep == NEG_INF:
            return None
        z = latest_in(windows[i - 1], dep - jobs[i - 1].service)
        if z is None:
            return None
        latest[i] = z
    if latest_departure(latest[1], d[nodes[0]][nodes[1]], tech, break_gap == 0) < (tech.ready_time):
        return None

    lunch = tech.lunch
    dep = tech.ready_time
    visits: list[Visit] = []
    break_start: int | None = None
    travel_total = 0
    cost_total = 0
    for i in range(1, n + 1):
        job = jobs[i - 1]
        travel = d[nodes[i - 1]][nodes[i]]
        travel_total += travel
        cost_total += c[nodes[i - 1]][nodes[i]]
        arrival = dep + travel
        ready = arrival
        if break_gap == i - 1 and lunch is not None:
            b = max(dep, lunch.earliest_start)
            if b > lunch.latest_start:
                return None
            if b < arrival:
                arrival += lunch.duration
            ready = max(arrival, b + lunch.duration)
            break_start = b
        start = earliest_in(windows[i - 1], ready)
        if start is None or start > latest[i]:
            return None
        start = _honour_promise(job, windows[i - 1], start, latest[i])
        visits.append(Visit(job.id, arrival, start, start + job.service, travel))
        dep = start + job.service

    travel = d[nodes[n]][nodes[n + 1]]
    travel_total += travel
    cost_total += c[nodes[n]][nodes[n + 1]]
    end = dep + travel
    if break_gap == n and lunch is not None:
        b = max(dep, lunch.earliest_start)
        if b > lunch.latest_start:
            return None
        if b < end:
            end += lunch.duration
        end = max(end, b + lunch.duration)
        break_start = b
    if end > tech.shift_end:
        return None

    start_time = tech.ready_time
    if break_gap != 0:
        # Leave just in time for the first job instead of waiting on site.
        first = visits[0]
        start_time = max(start_time, first.start - first.travel)
        visits[0] = Visit(first.job_id, start_time + first.travel, first.start, first.end, first.travel)
    return Route(tech.id, tuple(visits), break_start, start_time, end, travel_total, cost_total)


def _honour_promise(job: Job, windows: tuple[tuple[int, int], ...] | None, start: int, latest: int) -> int:
    """Wait for the promised window when that keeps the rest of the route feasible."""
    pw = job.promised_window
    if pw is None or job.locked or job.pinned_start is not None or start >= pw.start:
        return start
    later = earliest_in(windows, pw.start)
    if later is not None and later <= latest:
        return later
    return start
