"""The optimizer: builds an OR-Tools routing model from a :class:`Problem`.

This is the only module that imports ortools. Model: transit matrices (travel
cost; travel time with the service time folded into the row) registered in C++,
a time dimension with windows and lunch breaks, skills and pins as allowed
vehicles, count and load dimensions for ``max_jobs`` and capacity, soft bounds
on start times for waiting, SLA deadlines and promised windows (a copy of the
time dimension carries a second bound where a job has two), and a drop penalty
per job.

Search: iterated local search with SISR ruin-and-recreate and simulated
annealing acceptance (``SolveWithIteratedLocalSearch``), run as a two-process
portfolio with different first solutions, ruin sizes, temperatures and job
orders; the better plan wins. Tiny problems and warm starts use guided local
search instead (ILS cannot start from a given assignment). On the Solomon
benchmark this beats the tutorial set-up (GLS) by a wide margin; see the
parameter choices below. Days over 800 jobs are cut into areas that are
solved on both cores and joined (``dispatch.decompose``). Jobs the search
drops are offered again by insertion, then by moving one other job
(``dispatch.insertion.insert_by_exchange``).

Times, breaks and the objective of the returned plan are recomputed in Python
(``dispatch.schedule``, ``plan_objective``), so every plan follows the same
rules that ``check_plan`` verifies.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from google.protobuf import duration_pb2
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2

from dispatch.explain import NEAREST
from dispatch.model import Job, Problem, Technician
from dispatch.result import Plan, Route, Unassigned, plan_objective
from dispatch.schedule import build_route, earliest_in

__all__ = ["solve"]

# At or below this many jobs a single guided local search runs for a bounded
# effort (well under a second): the server plans small days synchronously.
SMALL_PROBLEM_JOBS = 12
# Up to this many jobs the search also stops early, after about
# EFFORT_PER_JOB_SQUARED * jobs**2 seconds: such days converge long before a
# typical time limit, and nobody should wait 5 s for a 20-job day.
EARLY_STOP_MAX_JOBS = 40
EFFORT_PER_JOB_SQUARED = 0.002
# Above this many jobs the day is solved by area (``dispatch.decompose``):
# OR-Tools' first solution alone takes about 25 s at 2,000 jobs. Areas have
# about PART_JOBS jobs, a size whose first solution takes well under a second.
DECOMPOSE_ABOVE_JOBS = 800
EXCHANGE_SHARE = 0.05
EXCHANGE_MAX_S = 1.5
EXCHANGE_MIN_JOBS = 200
PART_JOBS = 200
# Days of this many jobs or more (without a plan to start from) first get a quick complete
# plan: OR-Tools' first solution with the jobs it dropped placed by insertion and exchange,
# in about a second, so an answer exists long before the search ends.
QUICK_PLAN_MIN_JOBS = 200
QUICK_REPAIR_MAX_S = 1.0

_FSS = routing_enums_pb2.FirstSolutionStrategy
_LSM = routing_enums_pb2.LocalSearchMetaheuristic
_BOOL_FALSE = optional_boolean_pb2.OptionalBoolean.BOOL_FALSE

# Operators switched off: the insertion-based path LNS operators are slow for
# their gain here (measured on Solomon), the rest only act on pickup-and-delivery
# pairs or visit types, which the model never uses. The operators that drop,
# swap or re-insert optional jobs stay on for over-booked days.
_SLOW_OR_IRRELEVANT_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_shortest_path_two_opt",
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_relocate_subtrip",
    "use_exchange_subtrip",
)


@dataclass(frozen=True, slots=True)
class _Config:
    """One portfolio member."""

    name: str
    seed: int
    first_solution: str
    ils: bool
    ruin_avg: int = 20
    ruin_max_sequence: int = 15
    temperature: float | None = None  # initial SA temperature / mean arc cost
    gls_lambda: float = 0.1


@dataclass(frozen=True, slots=True)
class _RawSolution:
    """Solver output before timing: job ids per technician (plus break gap)."""

    routes: tuple[tuple[int, tuple[str, ...], int | None], ...]
    dropped: tuple[str, ...]
    solver_objective: int
    status: str


def solve(
    problem: Problem,
    *,
    time_limit_s: float = 5.0,
    initial: Plan | None = None,
    workers: int = 2,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    explain: bool = True,
) -> Plan:
    """Plan a day.

    Parameters
    ----------
    problem
        The problem; validated first.
    time_limit_s
        Wall-clock budget for the whole call. Days with at most
        ``SMALL_PROBLEM_JOBS`` (12) jobs stop well under a second, days with
        at most ``EARLY_STOP_MAX_JOBS`` (40) after about ``0.002 * jobs**2``
        seconds; larger problems use the whole budget. Days over
        ``DECOMPOSE_ABOVE_JOBS`` (800) jobs are solved by area
        (:mod:`dispatch.decompose`); on days of ``EXCHANGE_MIN_JOBS`` (200)
        or more, 5% of the budget (at most 1.5 s) goes to placing dropped
        jobs by moving one other job
        (:func:`dispatch.insertion.insert_by_exchange`). Such days without an
        ``initial`` plan first get a quick plan (OR-Tools' first solution,
        repaired the same way for at most ``QUICK_REPAIR_MAX_S``), reported
        through ``progress`` and returned if the search does no better.
    initial
        Optional plan to start from (warm start); the result is never worse
        than it (same objective, :func:`dispatch.result.plan_objective`).
    workers
        ``2`` (or more) runs a second, differently configured search in a
        forked child process and keeps the better plan; ``1`` runs in this
        process only. Where forking is impossible (e.g. inside a daemonic
        Celery prefork worker) the call silently falls back to one worker.
    seed
        Seed for the portfolio (shuffles the model's job order).
    progress
        Optional callback receiving short progress messages.
    explain
        Attach a :class:`dispatch.result.Explanation` for every job to
        ``Plan.explanations`` (about 16 us per job x compared technician, at
        most 21 of them; taken from the time budget); with ``False`` use
        :func:`dispatch.explain.explain_job` on demand.

    Returns
    -------
    Plan
        A plan that passes :func:`dispatch.result.check_plan`; jobs that could
        not be planned are in ``Plan.unassigned`` with a code and a reason.

    Raises
    ------
    ProblemError
        If ``problem.validate()`` fails.
    """
    started = time.monotonic()
    deadline = started + max(0.0, time_limit_s)
    problem.validate()
    say = progress or (lambda _msg: None)
    if initial is not None and not any(route.visits for route in initial.routes):
        initial = None  # nothing planned yet (the morning's first re-plan): plan from scratch

    excluded, allowed = _prefilter(problem)
    eligible = [j for j in problem.jobs if j.id not in excluded]
    small = len(eligible) <= SMALL_PROBLEM_JOBS
    configs = _portfolio(seed, warm=initial is not None)
    initial_routes = _initial_routes(problem, initial, excluded)

    # Time kept back for turning solver output into a timed plan (about 12 us per
    # job x technician), for explanations (16 us per job x compared technician)
    # and, on big days, for the exchange repair.
    size = len(eligible) * len(problem.technicians)
    explained = len(problem.jobs) * min(len(problem.technicians), NEAREST + 1)
    exchange_reserve = 0.05 + (explained * 16e-6 if explain else 0.0)
    # Time for placing dropped jobs by moving another one (insert_by_exchange), taken from
    # the search on big days only: on 100-customer Solomon instances, where nothing is ever
    # dropped, giving 5% of the search away cost about half a point of mean gap.
    exchange_time = 0.0
    if len(eligible) >= EXCHANGE_MIN_JOBS:
        exchange_time = min(EXCHANGE_SHARE * time_limit_s, EXCHANGE_MAX_S)
    reserve = 0.02 + size * 12e-6 + exchange_time + exchange_reserve

    child = None
    by_parts = len(eligible) > DECOMPOSE_ABOVE_JOBS
    if workers >= 2 and not small and eligible and not by_parts:
        child = _start_child(problem, allowed, configs[1], deadline, initial_routes, say, reserve)

    quick: Plan | None = None
    if initial is None and not by_parts and len(eligible) >= QUICK_PLAN_MIN_JOBS:
        quick = _quick_plan(problem, allowed, excluded, deadline - reserve, say, started)

    plan: Plan | None = None
    if by_parts:
        # The whole-day search would not even find a first solution in time.
        # Parts are solved and joined, then timed once more as one plan.
        reserve = 0.3 + size * 4e-6 + exchange_time + exchange_reserve
        plan = _solve_by_parts(problem, allowed, excluded, deadline - reserve, initial, workers, seed, say)
    elif eligible:
        raw = _solve_config(problem, allowed, configs[0], deadline, initial_routes, small, say, reserve)
        plan = _to_plan(problem, raw, excluded)
        say(f"{configs[0].name}: objective {plan.objective}")
    if child is not None:
        other = _collect_child(child, deadline, say)
        if other is not None:
            candidate = _to_plan(problem, other, excluded)
            say(f"{configs[1].name}: objective {candidate.objective}")
            if plan is None or candidate.objective < plan.objective:
                plan = candidate
    if plan is None:
        plan = _to_plan(problem, _RawSolution((), (), 0, "EMPTY"), excluded)
    if initial is not None:
        # The search starts from the initial plan but a time limit or an
        # infeasible start could still leave us worse off; never regress.
        base = _rebuild(problem, initial, excluded)
        if base is not None and base.objective < plan.objective:
            plan = base

    plan = _repair_and_classify(problem, plan, deadline=deadline - exchange_reserve)
    if quick is not None and quick.objective < plan.objective:
        say(f"the first plan stays the best: objective {quick.objective}")
        plan = quick
    if explain:
        from dispatch.explain import explain_plan

        plan = replace(plan, explanations=explain_plan(problem, plan))
    say(f"done in {time.monotonic() - started:.2f}s, objective {plan.objective}")
    return plan


# --- large days: solve by area -------------------------------------------------


def _solve_by_parts(
    problem: Problem,
    allowed: dict[str, list[int]],
    excluded: dict[str, Unassigned],
    until: float,
    initial: Plan | None,
    workers: int,
    seed: int,
    say: Callable[[str], None],
) -> Plan:
    """Cut the day into areas (``dispatch.decompose``), solve them on
    ``workers`` lanes, and join the results into one plan of the whole day."""
    from dispatch.decompose import partition

    lanes = max(1, workers)
    count = lanes * math.ceil(len(allowed) / (lanes * PART_JOBS))
    parts = partition(problem, allowed, count)
    # Longest parts first onto the least loaded lane.
    lane_parts: list[list[Any]] = [[] for _ in range(lanes)]
    for part in sorted(parts, key=lambda p: -len(p.jobs)):
        k = min(range(lanes), key=lambda i: sum(len(p.jobs) for p in lane_parts[i]))
        lane_parts[k].append(part)
    say(
        f"{len(allowed)} jobs: solving {len(parts)} areas of "
        f"{min(len(p.jobs) for p in parts)}-{max(len(p.jobs) for p in parts)} jobs "
        f"on {lanes} lane(s)"
    )
    children = []
    for k in range(1, lanes):
        if lane_parts[k]:
            children.append((k, _fork(_solve_lane, (problem, lane_parts[k], until, initial, seed, None), say)))
    results = _solve_lane(problem, lane_parts[0], until, initial, seed, say)
    for k, child in children:
        got = None if child is None else _collect_child(child, until, say)
        if got is None:
            # The lane failed (or could not start): its parts go to the repair.
            got = []
            for part in lane_parts[k]:
                got.append(Plan((), tuple(Unassigned(j, "no_room", "area not solved") for j in part.jobs), 0))
        results.extend(got)
    routes = [r for sub in results for r in sub.routes]
    unassigned = list(excluded.values()) + [
        Unassigned(u.job_id, "no_room", u.reason) for sub in results for u in sub.unassigned
    ]
    plan = Plan(tuple(routes), tuple(unassigned), 0)
    return replace(plan, objective=plan_objective(problem, plan))


def _solve_lane(
    problem: Problem,
    parts: list[Any],
    until: float,
    initial: Plan | None,
    seed: int,
    say: Callable[[str], None] | None,
) -> list[Plan]:
    """Solve areas one after the other, sharing the time in proportion to size."""
    from dispatch.decompose import subproblem

    out = []
    left = sum(len(p.jobs) for p in parts)
    for k, part in enumerate(parts):
        budget = max(0.05, (until - time.monotonic()) * len(part.jobs) / max(1, left))
        left -= len(part.jobs)
        sub = subproblem(problem, part)
        tell = None if say is None else (lambda m, k=k: say(f"area {k}: {m}"))
        plan = solve(sub, time_limit_s=budget, initial=initial, workers=1, seed=seed, explain=False, progress=tell)
        out.append(plan)
    return out


# --- pre-processing ----------------------------------------------------------


def _prefilter(problem: Problem) -> tuple[dict[str, Unassigned], dict[str, list[int]]]:
    """Jobs that cannot be planned at all, and the allowed technicians of the rest."""
    techs = problem.technicians
    excluded: dict[str, Unassigned] = {}
    allowed: dict[str, list[int]] = {}
    fit_cache: dict[tuple[Any, ...], bool] = {}
    for job in problem.jobs:
        skilled = [v for v, t in enumerate(techs) if job.skills <= t.skills]
        if not skilled:
            need = ", ".join(sorted(job.skills))
            excluded[job.id] = Unassigned(job.id, "no_skilled_technician", f"no technician has the skill(s) {need}")
            continue
        if job.pinned_technician_id is not None:
            pv = problem.technician_index(job.pinned_technician_id)
            if pv not in skilled:
                missing = ", ".join(sorted(job.skills - techs[pv].skills))
                excluded[job.id] = Unassigned(
                    job.id,
                    "pin_conflict",
                    f"pinned to {techs[pv].label}, who lacks the skill(s) {missing}",
                )
                continue
            skilled = [pv]
        fitting = [v for v in skilled if _fits_alone(problem, techs[v], job, fit_cache)]
        if not fitting:
            if job.locked:
                excluded[job.id] = Unassigned(
                    job.id,
                    "locked_infeasible",
                    f"{techs[skilled[0]].label} cannot finish this job within the shift",
                )
            else:
                excluded[job.id] = Unassigned(
                    job.id, "infeasible", _alone_reason(problem, job, [techs[v] for v in skilled])
                )
            continue
        allowed[job.id] = fitting
    return excluded, allowed


def _fits_alone(problem: Problem, tech: Technician, job: Job, cache: dict[tuple[Any, ...], bool]) -> bool:
    """Whether the job fits the technician's otherwise empty day."""
    if tech.max_jobs == 0 or (tech.capacity is not None and job.demand > tech.capacity):
        return False
    key = (
        tech.start_node,
        tech.home_node,
        tech.ready_time,
        tech.shift_end,
        tech.lunch,
        job.node,
        job.service,
        job.start_windows(),
    )
    hit = cache.get(key)
    if hit is None:
        hit = _single_job_schedule_ok(problem, tech, job)
        cache[key] = hit
    return hit


def _single_job_schedule_ok(problem: Problem, tech: Technician, job: Job) -> bool:
    # Same rules as dispatch.schedule.build_route for one job, inlined because
    # it runs for every (job, technician) pair.
    d = problem.durations
    t1 = d[tech.start_node][job.node]
    t2 = d[job.node][tech.home_node]
    windows = job.start_windows()
    ready = tech.ready_time
    lunch = tech.lunch
    start = earliest_in(windows, ready + t1)
    if lunch is None:
        return start is not None and start + job.service + t2 <= tech.shift_end
    if start is not None:  # lunch after the job
        dep = start + job.service
        b = max(dep, lunch.earliest_start)
        end = max(dep + t2 + (lunch.duration if b < dep + t2 else 0), b + lunch.duration)
        if b <= lunch.latest_start and end <= tech.shift_end:
            return True
    b = max(ready, lunch.earliest_start)  # lunch before the job
    if b > lunch.latest_start:
        return False
    arrival = ready + t1 + (lunch.duration if b < ready + t1 else 0)
    start = earliest_in(windows, max(arrival, b + lunch.duration))
    return start is not None and start + job.service + t2 <= tech.shift_end


def _alone_reason(problem: Problem, job: Job, techs: Sequence[Technician]) -> str:
    d = problem.durations
    windows = job.start_windows()
    if all(t.capacity is not None and job.demand > t.capacity for t in techs):
        return f"demand {job.demand} exceeds every skilled technician's capacity"
    if all(t.max_jobs == 0 for t in techs):
        return "every skilled technician has max_jobs 0"
    if windows is not None:
        earliest = min(t.ready_time + d[t.start_node][job.node] for t in techs)
        last = windows[-1][1]
        if earliest > last:
            return (
                f"earliest possible arrival {problem.format_time(earliest)} is after the "
                f"window ends ({problem.format_time(last)})"
            )
    return "does not fit any skilled technician's shift, even on an empty day"


def _initial_routes(problem: Problem, initial: Plan | None, excluded: dict[str, Unassigned]) -> list[list[str]] | None:
    if initial is None:
        return None
    routes: list[list[str]] = [[] for _ in problem.technicians]
    for r in initial.routes:
        if not problem.has_technician(r.technician_id):
            continue
        v = problem.technician_index(r.technician_id)
        routes[v] = [x.job_id for x in r.visits if problem.has_job(x.job_id) and x.job_id not in excluded]
    return routes


def _rebuild(problem: Problem, plan: Plan, excluded: dict[str, Unassigned]) -> Plan | None:
    """Re-time a given plan under this problem; ``None`` if it no longer fits."""
    seqs = _initial_routes(problem, plan, excluded) or []
    routes = []
    routed: set[str] = set()
    for v, ids in enumerate(seqs):
        tech = problem.technicians[v]
        if not ids:
            continue
        jobs = [problem.job(i) for i in ids]
        if any(not j.skills <= tech.skills for j in jobs) or any(
            j.pinned_technician_id not in (None, tech.id) for j in jobs
        ):
            return None
        if tech.max_jobs is not None and len(jobs) > tech.max_jobs:
            return None
        if tech.capacity is not None and sum(j.demand for j in jobs) > tech.capacity:
            return None
        route = build_route(problem, tech, jobs)
        if route is None or any(j.locked for j in jobs[1:]):
            return None
        routes.append(route)
        routed.update(ids)
    missing = [j for j in problem.jobs if j.id not in routed and j.id not in excluded]
    unassigned = list(excluded.values()) + [
        Unassigned(j.id, "no_room", "left out by the initial plan") for j in missing
    ]
    out = Plan(tuple(routes), tuple(unassigned), 0)
    return replace(out, objective=plan_objective(problem, out))


# --- portfolio ---------------------------------------------------------------


def _portfolio(seed: int, *, warm: bool) -> list[_Config]:
    """Two complementary searches; with a warm start the first one continues
    from the given plan (guided local search) while the second starts afresh."""
    first = _Config("worker 0", seed, "PARALLEL_CHEAPEST_INSERTION", ils=not warm)
    second = _Config(
        "worker 1",
        seed + 1,
        "LOCAL_CHEAPEST_INSERTION",
        ils=True,
        ruin_avg=15,
        ruin_max_sequence=12,
        temperature=0.4,
    )
    return [first, second]


def _start_child(
    problem: Problem,
    allowed: dict[str, list[int]],
    config: _Config,
    deadline: float,
    initial_routes: list[list[str]] | None,
    say: Callable[[str], None],
    reserve: float,
) -> tuple[Any, Any] | None:
    return _fork(
        _solve_config,
        (problem, allowed, config, deadline, initial_routes, False, None, reserve),
        say,
    )


def _fork(fn: Callable[..., Any], args: tuple[Any, ...], say: Callable[[str], None]) -> Any:
    """Run ``fn(*args)`` in a child process; ``(process, pipe)`` or ``None``."""
    try:
        # fork: the child inherits the loaded model code and the problem, starts
        # in milliseconds and never re-imports the caller's __main__ (spawn and
        # forkserver do, which breaks unguarded scripts). The child only runs
        # the search and writes to a pipe, so locks held by other threads of the
        # parent at fork time are never touched.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx: Any = multiprocessing.get_context(method)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child_main, args=(fn, args, send), daemon=True)
        proc.start()
        send.close()
    except (OSError, ValueError, AssertionError) as exc:
        # e.g. inside a daemonic worker (Celery prefork) that may not fork.
        say(f"second worker unavailable ({exc}); searching in-process only")
        return None
    return proc, recv


def _child_main(fn: Callable[..., Any], args: tuple[Any, ...], conn: Any) -> None:
    try:
        conn.send(fn(*args))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which carries on
        conn.send(exc)
    finally:
        conn.close()


def _collect_child(child: tuple[Any, Any], deadline: float, say: Callable[[str], None]) -> Any:
    proc, conn = child
    result: Any = None
    try:
        if conn.poll(max(0.0, deadline - time.monotonic()) + 2.0):
            result = conn.recv()
    except (EOFError, OSError):
        result = None
    finally:
        conn.close()
        proc.join(0.5)
        if proc.is_alive():
            proc.terminate()
            proc.join(0.5)
    if isinstance(result, Exception):
        say(f"second worker failed: {result!r}")
        return None
    if result is None:
        say("second worker returned nothing in time")
    return result


# --- the OR-Tools model --------------------------------------------------------


class _Model:
    """Routing model of the eligible jobs; routing node k < J is job k."""

    def __init__(
        self,
        problem: Problem,
        jobs: list[Job],
        allowed: dict[str, list[int]],
    ) -> None:
        self.problem = problem
        self.jobs = jobs
        self.scale = _objective_scale(problem, jobs)
        techs = problem.technicians
        n_jobs = len(jobs)
        depots: dict[int, int] = {}
        for t in techs:
            for node in (t.start_node, t.home_node):
                depots.setdefault(node, n_jobs + len(depots))
        self.node_of = [j.node for j in jobs] + list(depots)
        n = len(self.node_of)
        starts = [depots[t.start_node] for t in techs]
        ends = [depots[t.home_node] for t in techs]
        self.manager = pywrapcp.RoutingIndexManager(n, len(techs), starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        routing, manager = self.routing, self.manager
        self.index_of_job = [manager.NodeToIndex(k) for k in range(n_jobs)]

        ix = np.asarray(self.node_of, dtype=np.int64)
        dur = np.asarray(problem.durations, dtype=np.int64)[np.ix_(ix, ix)]
        cost = dur if problem.costs is None else np.asarray(problem.costs, dtype=np.int64)[np.ix_(ix, ix)]
        service = np.zeros(n, dtype=np.int64)
        service[:n_jobs] = [j.service for j in jobs]
        # Service folded into the outgoing row: transit(i, j) = service(i) + travel(i, j).
        time_m = dur + service[:, None]
        np.fill_diagonal(time_m, 0)
        if self.scale != 1:
            cost = cost * self.scale
        self.mean_arc_cost = float(cost.mean()) if n > 1 else 1.0

        cost_cb = routing.RegisterTransitMatrix(cost.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
        time_cb = routing.RegisterTransitMatrix(time_m.tolist())
        horizon = max([t.shift_end for t in techs] + [w[-1][1] for j in jobs if (w := j.start_windows())]) + 1
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        self.time = routing.GetDimensionOrDie("time")

        for v, t in enumerate(techs):
            self.time.CumulVar(routing.Start(v)).SetRange(t.ready_time, t.shift_end)
            self.time.CumulVar(routing.End(v)).SetRange(t.ready_time, t.shift_end)

        all_vehicles = list(range(len(techs)))
        second: list[tuple[int, int, int]] = []
        for k, job in enumerate(jobs):
            index = self.index_of_job[k]
            cumul = self.time.CumulVar(index)
            windows = job.start_windows()
            if windows is not None:
                _restrict(cumul, windows, horizon)
            vehicles = allowed[job.id]
            if job.locked:
                v = vehicles[0]
                routing.VehicleVar(index).SetValues(vehicles)
                routing.solver().Add(routing.NextVar(routing.Start(v)) == index)
            else:
                if vehicles != all_vehicles:
                    routing.VehicleVar(index).SetValues([-1, *vehicles])
                routing.AddDisjunction([index], problem.drop_penalty(job) * self.scale)
            extra = self._soft_time_costs(index, job, horizon)
            if extra is not None:
                second.append((index, *extra))

        self._breaks(service)
        if second:
            self._second_time_dimension(time_cb, horizon, second)
        self._counts_and_loads()
        self._promises()

    def _soft_time_costs(self, index: int, job: Job, horizon: int) -> tuple[int, int] | None:
        """Soft costs of the job's start ``s`` on the time dimension.

        Waiting ``w * (s - ready)``, lateness ``L * (s - (deadline - service))`` and a late
        promise ``P * (s - promise end)`` each cost from a bound on, and OR-Tools keeps one
        soft upper bound per node. A bound the start can never pass costs nothing; bounds at
        or before the earliest start are one linear cost from there (their sum, exact up
        to a constant). If two bounds are left, the lower one goes on the time dimension and
        the other is returned for the second dimension (``_second_time_dimension``); a third
        one (SLA and promise and waiting) is folded into the second, the tighter bound with
        the larger weight. The early side of a promise is the soft lower bound.
        """
        p = self.problem
        scale = self.scale
        windows = job.start_windows()
        lo, hi = (0, horizon) if windows is None else (max(0, windows[0][0]), min(windows[-1][1], horizon))
        hinges: list[tuple[int, int]] = []
        waiting = round(p.waiting_weight(job) * scale)
        if job.ready is not None and waiting > 0:
            hinges.append((max(0, job.ready), waiting))
        if job.sla_deadline is not None:
            hinges.append((job.sla_deadline - job.service, p.lateness_weight(job) * scale))
        pw = job.promised_window
        if pw is not None and not job.locked:
            promise = p.promise_window_weight() * scale
            self.time.SetCumulVarSoftLowerBound(index, pw.start, promise)
            hinges.append((pw.end, promise))
        merged: dict[int, int] = {}
        for bound, weight in hinges:
            if bound < hi:
                merged[max(bound, lo)] = merged.get(max(bound, lo), 0) + weight
        bounds = sorted(merged.items())
        if not bounds:
            return None
        self.time.SetCumulVarSoftUpperBound(index, *bounds[0])
        if len(bounds) == 1:
            return None
        return bounds[1][0], max(w for _, w in bounds[1:])

    def _second_time_dimension(self, time_cb: int, horizon: int, bounds: list[tuple[int, int, int]]) -> None:
        """Second soft upper bounds ``(index, bound, weight)`` of start times, for jobs whose
        time-dimension bound is taken (waiting there, an SLA deadline or a promise here).

        A copy of the time dimension (same transits, shifts, windows and lunch breaks) whose
        earliest schedule is the time dimension's, carrying those bounds. It is not tied to
        the time dimension by a constraint: both are scheduled as early as their costs allow,
        which is the schedule ``dispatch.schedule`` builds (only a promise's soft lower bound
        can hold the real start later than the copy's). Built only when some job needs it.
        Measured against folding the two bounds into one (the tighter bound with the larger
        weight), keeping only the lower bound, only the other one, or tying the copy to the
        time dimension with equalities: on 40- and 60-order demo days it gave the lowest plan
        objective, on a 500-order day with SLA deadlines all were within the run-to-run noise.
        """
        routing = self.routing
        routing.AddDimension(time_cb, horizon, horizon, False, "second_time")
        dim = routing.GetDimensionOrDie("second_time")
        for v, t in enumerate(self.problem.technicians):
            dim.CumulVar(routing.Start(v)).SetRange(t.ready_time, t.shift_end)
            dim.CumulVar(routing.End(v)).SetRange(t.ready_time, t.shift_end)
        for k, job in enumerate(self.jobs):
            windows = job.start_windows()
            if windows is not None:
                _restrict(dim.CumulVar(self.index_of_job[k]), windows, horizon)
        for v, interval in getattr(self, "breaks", {}).items():
            dim.SetBreakIntervalsOfVehicle([interval], v, self.visit_transits)
        for index, bound, weight in bounds:
            dim.SetCumulVarSoftUpperBound(index, bound, weight)

    def _breaks(self, service: np.ndarray) -> None:
        routing, solver = self.routing, self.routing.solver()
        techs = self.problem.technicians
        if not any(t.lunch for t in techs):
            return
        visit_transits = [int(service[self.manager.IndexToNode(i)]) for i in range(routing.Size())]
        self.visit_transits = visit_transits
        self.breaks: dict[int, Any] = {}
        for v, t in enumerate(techs):
            if t.lunch is None:
                continue
            lunch = t.lunch
            interval = solver.FixedDurationIntervalVar(
                lunch.earliest_start, lunch.latest_start, lunch.duration, False, f"lunch {t.id}"
            )
            self.breaks[v] = interval
            self.time.SetBreakIntervalsOfVehicle([interval], v, visit_transits)

    def _counts_and_loads(self) -> None:
        routing = self.routing
        techs = self.problem.technicians
        n_jobs = len(self.jobs)
        n_depots = len(self.node_of) - n_jobs
        if any(t.max_jobs is not None for t in techs):
            cb = routing.RegisterUnaryTransitVector([1] * n_jobs + [0] * n_depots)
            caps = [n_jobs if t.max_jobs is None else t.max_jobs for t in techs]
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "jobs")
        demands = [j.demand for j in self.jobs]
        if any(t.capacity is not None for t in techs) and any(demands):
            cb = routing.RegisterUnaryTransitVector(demands + [0] * n_depots)
            total = sum(demands)
            caps = [total if t.capacity is None else t.capacity for t in techs]
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "load")

    def _promises(self) -> None:
        promised = [j.promised_technician_id for j in self.jobs]
        if not any(p is not None for p in promised):
            return
        routing = self.routing
        n_depots = len(self.node_of) - len(self.jobs)
        callbacks: dict[str, int] = {}
        evaluators = []
        promised_set = set(promised)
        for t in self.problem.technicians:
            key = t.id if t.id in promised_set else ""
            if key not in callbacks:
                broken = [int(p is not None and p != key) for p in promised]
                callbacks[key] = routing.RegisterUnaryTransitVector(broken + [0] * n_depots)
            evaluators.append(callbacks[key])
        routing.AddDimensionWithVehicleTransits(evaluators, 0, len(self.jobs) + 1, True, "promise")
        dim = routing.GetDimensionOrDie("promise")
        dim.SetSpanCostCoefficientForAllVehicles(self.problem.broken_promise_penalty() * self.scale)

    # --- search -------------------------------------------------------------

    def parameters(self, config: _Config, seconds: float, small: bool) -> Any:
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = getattr(_FSS, config.first_solution)
        params.use_full_propagation = False
        ops = params.local_search_operators
        for name in _SLOW_OR_IRRELEVANT_OPERATORS:
            setattr(ops, name, _BOOL_FALSE)
        params.time_limit.CopyFrom(_duration(seconds))
        if small or not config.ils:
            params.local_search_metaheuristic = _LSM.GUIDED_LOCAL_SEARCH
            params.guided_local_search_lambda_coefficient = config.gls_lambda
            return params
        ils = params.iterated_local_search_parameters
        ils.improve_perturbed_solution = True
        rr = ils.ruin_recreate_parameters
        del rr.ruin_strategies[:]
        sisr = rr.ruin_strategies.add().sisr
        sisr.avg_num_removed_visits = config.ruin_avg
        sisr.max_removed_sequence_size = config.ruin_max_sequence
        sisr.bypass_factor = 0.01
        rr.recreate_strategy.heuristic = _FSS.LOCAL_CHEAPEST_INSERTION
        sa = ils.reference_solution_acceptance_strategy.simulated_annealing
        sa.cooling_schedule_strategy = 1  # EXPONENTIAL
        if config.temperature is None:
            sa.automatic_temperatures = True
        else:
            sa.automatic_temperatures = False
            sa.initial_temperature = config.temperature * self.mean_arc_cost
            sa.final_temperature = config.temperature * self.mean_arc_cost / 100
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
        return params

    def assignment_from(self, routes: list[list[str]]) -> Any:
        pos = {j.id: k for k, j in enumerate(self.jobs)}
        idx = [[self.index_of_job[pos[i]] for i in r if i in pos] for r in routes]
        return self.routing.ReadAssignmentFromRoutes(idx, True)

    def extract(self, solution: Any, status: str) -> _RawSolution:
        routing, manager = self.routing, self.manager
        n_jobs = len(self.jobs)
        routes = []
        served: set[int] = set()
        for v in range(len(self.problem.technicians)):
            index = solution.Value(routing.NextVar(routing.Start(v)))
            ids: list[str] = []
            ends: list[int] = []
            while not routing.IsEnd(index):
                k = manager.IndexToNode(index)
                if k < n_jobs:
                    served.add(k)
                    ids.append(self.jobs[k].id)
                    ends.append(solution.Min(self.time.CumulVar(index)) + self.jobs[k].service)
                index = solution.Value(routing.NextVar(index))
            gap = None
            interval = getattr(self, "breaks", {}).get(v)
            if interval is not None and ids:
                b = solution.StartValue(interval)
                gap = sum(1 for e in ends if e <= b)
            if ids:
                routes.append((v, tuple(ids), gap))
        dropped = tuple(j.id for k, j in enumerate(self.jobs) if k not in served)
        objective = solution.ObjectiveValue() // self.scale
        return _RawSolution(tuple(routes), dropped, objective, status)


def _objective_scale(problem: Problem, jobs: Sequence[Job]) -> int:
    """Factor on every cost of the OR-Tools model, which takes only integer costs, so that
    a fractional waiting weight (0.1 per minute) keeps its value: 1 when the waiting
    weights are whole (or nobody has a ready time), else 10, 100 or 1000 (the last one
    rounding)."""
    if not any(j.ready is not None for j in jobs):
        return 1
    weights = {problem.waiting_weight(j) for j in jobs if j.ready is not None}
    for scale in (1, 10, 100):
        if all(abs(w * scale - round(w * scale)) < 1e-9 for w in weights):
            return scale
    return 1000


def _restrict(cumul: Any, windows: tuple[tuple[int, int], ...], horizon: int) -> None:
    """Limit a start-time variable to the job's windows."""
    cumul.SetRange(windows[0][0], min(windows[-1][1], horizon))
    for (_, b1), (a2, _) in zip(windows, windows[1:], strict=False):
        cumul.RemoveInterval(b1 + 1, a2 - 1)


def _quick_plan(
    problem: Problem,
    allowed: dict[str, list[int]],
    excluded: dict[str, Unassigned],
    deadline: float,
    say: Callable[[str], None],
    started: float,
) -> Plan:
    """OR-Tools' first solution (no search), then the jobs it dropped inserted, or placed by
    the first exchange with another job found, for at most ``QUICK_REPAIR_MAX_S``."""
    config = _Config("first plan", 0, "PARALLEL_CHEAPEST_INSERTION", ils=False)
    raw = _solve_config(problem, allowed, config, deadline, None, False, None, 0.0, first_only=True)
    plan = _repair_and_classify(
        problem,
        _to_plan(problem, raw, excluded),
        deadline=min(deadline, time.monotonic() + QUICK_REPAIR_MAX_S),
        first=True,
    )
    placed = sum(len(route.visits) for route in plan.routes)
    say(
        f"first plan: cost {plan.objective} after {time.monotonic() - started:.1f}s, "
        f"{placed} of {len(problem.jobs)} jobs placed"
    )
    return plan


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromMilliseconds(max(1, int(seconds * 1000)))
    return d


def _solve_config(
    problem: Problem,
    allowed: dict[str, list[int]],
    config: _Config,
    deadline: float,
    initial_routes: list[list[str]] | None,
    small: bool,
    say: Callable[[str], None] | None,
    reserve: float,
    first_only: bool = False,
) -> _RawSolution:
    """Run one portfolio member until ``deadline - reserve`` (``first_only``: stop at the
    first solution, before any search)."""
    jobs = [j for j in problem.jobs if j.id in allowed]
    if config.seed:
        # OR-Tools has no seed for these heuristics; a different job order
        # changes its tie-breaking and is enough to diversify the portfolio.
        random.Random(config.seed).shuffle(jobs)
    model = _Model(problem, jobs, allowed)
    routing = model.routing
    seconds = max(0.01, deadline - time.monotonic() - reserve)
    if small:
        seconds = min(seconds, 0.05 + 0.02 * len(jobs))
    elif len(jobs) <= EARLY_STOP_MAX_JOBS:
        seconds = min(seconds, EFFORT_PER_JOB_SQUARED * len(jobs) ** 2)
    params = model.parameters(config, seconds, small)
    if first_only:
        params.solution_limit = 1
    if say is not None:
        _attach_progress(routing, config.name, say, model.scale)
    solution = None
    if initial_routes is not None and not config.ils:
        routing.CloseModelWithParameters(params)
        start = model.assignment_from(initial_routes)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
        elif say is not None:
            say(f"{config.name}: initial plan is infeasible now, searching from scratch")
    if solution is None:
        if config.ils and not small:
            solution = routing.SolveWithIteratedLocalSearch(params)
        else:
            solution = routing.SolveWithParameters(params)
    status = routing_enums_pb2.RoutingSearchStatus.Value.Name(routing.status())
    if solution is None:
        return _RawSolution((), tuple(j.id for j in jobs), 0, status)
    return model.extract(solution, status)


def _attach_progress(routing: Any, name: str, say: Callable[[str], None], scale: int = 1) -> None:
    started = time.monotonic()
    last: list[Any] = [0.0, None]

    def on_solution() -> None:
        now = time.monotonic()
        cost = routing.CostVar()
        # With soft bounds on start times (SLA, promises, waiting) the iterated local
        # search reports solutions whose start times, hence cost, are not fixed yet:
        # Value() would abort the process (a failed CHECK in C++). Report the lower bound.
        value = (cost.Value() if cost.Bound() else cost.Min()) // scale
        if last[1] is None or (now - last[0] >= 0.5 and value < last[1]):
            last[0], last[1] = now, value
            say(f"{name}: cost {value} after {now - started:.1f}s")

    routing.AddAtSolutionCallback(on_solution)


# --- from raw solution to plan -------------------------------------------------


def _to_plan(problem: Problem, raw: _RawSolution, excluded: dict[str, Unassigned]) -> Plan:
    routes: list[Route] = []
    dropped = list(raw.dropped)
    for v, ids, gap in raw.routes:
        tech = problem.technicians[v]
        jobs = [problem.job(i) for i in ids]
        route = build_route(problem, tech, jobs, break_gap=gap) if gap is not None else None
        if route is None:
            route = build_route(problem, tech, jobs)
        while route is None and jobs:
            # Should not happen (the scheduler accepts every OR-Tools route); if
            # it does, give up the last job rather than return an invalid plan.
            dropped.append(jobs.pop().id)
            route = build_route(problem, tech, jobs) if jobs else None
        if route is not None:
            routes.append(route)
    unassigned = list(excluded.values()) + [Unassigned(i, "no_room", "not scheduled by the solver") for i in dropped]
    plan = Plan(tuple(routes), tuple(unassigned), 0)
    return replace(plan, objective=plan_objective(problem, plan))


def _repair_and_classify(
    problem: Problem,
    plan: Plan,
    deadline: float | None = None,
    *,
    first: bool = False,
) -> Plan:
    """Insert solver-dropped jobs that still fit, or fit by moving one other job (the first
    such exchange found with ``first``, else the cheapest), until ``deadline``; then explain
    the rest."""
    from dispatch.insertion import _choose, _Evaluator, apply_insertion, insert_by_exchange

    pending = [u for u in plan.unassigned if u.code == "no_room"]
    if not pending:
        return plan
    order = sorted(pending, key=lambda u: -problem.drop_penalty(problem.job(u.job_id)))
    ev = _Evaluator(problem, plan)
    left = []
    for u in order:
        ins = _choose(problem, ev, problem.job(u.job_id), False)
        if ins.technician_id is not None:
            plan = apply_insertion(problem, plan, ins)
            ev.refresh(plan, ins.technician_id)
        else:
            left.append(u)
    for u in left:
        if deadline is not None and time.monotonic() > deadline:
            break
        exchanged = insert_by_exchange(problem, plan, u.job_id, ev, deadline=deadline, first=first)
        if exchanged is not None:
            plan = exchanged
            ev = _Evaluator(problem, plan)
    kept = []
    for u in plan.unassigned:
        if u.code == "no_room":
            ins = _choose(problem, ev, problem.job(u.job_id), False)
            kept.append(Unassigned(u.job_id, "no_room", ins.reason))
        else:
            kept.append(u)
    plan = replace(plan, unassigned=tuple(kept))
    return replace(plan, objective=plan_objective(problem, plan))
