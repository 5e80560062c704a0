"""Engine runners: one engine-neutral :class:`~bench.common.Instance` in, routes out.

* ``ortools`` — Fixroute's own optimizer (``dispatch.solver.solve``, OR-Tools inside),
  through :func:`to_dispatch_problem` / :func:`run_dispatch`.
* ``vroom`` — pyvroom, integer matrices, exploration level and threads as given.
* ``pyvrp`` — PyVRP ``ProblemData`` built straight from the same integer matrices.

Every runner returns an :class:`EngineRun` whose ``routes`` (vehicle id -> job ids) the
benchmark re-costs and checks with :func:`bench.common.check_routes`; nothing an engine
says about its own cost or feasibility is trusted for the reported numbers.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from bench.common import REPO_DIR, Instance, source_digest

ENGINES = ("ortools", "vroom", "pyvrp")


@dataclass
class EngineRun:
    engine: str
    routes: dict[str, list[str]] = field(default_factory=dict)
    unassigned: list[str] = field(default_factory=list)
    build_s: float = float("nan")  # building the engine's model from the Instance
    wall_s: float = float("nan")  # the solve call itself
    first_solution_s: float | None = None  # from solve start, when the engine tells us
    engine_objective: float | None = None
    status: str = "ok"
    native_errors: list[str] | None = None  # dispatch.result.check_plan, for ours
    notes: dict[str, Any] = field(default_factory=dict)
    plan: Any = None  # the engine's own result object (dispatch Plan), never serialized

    def record(self, *, with_routes: bool = False) -> dict[str, Any]:
        """A JSON-friendly summary (routes only on request: they are big)."""
        out = {
            "engine": self.engine,
            "status": self.status,
            "build_s": self.build_s,
            "wall_s": self.wall_s,
            "first_solution_s": self.first_solution_s,
            "engine_objective": self.engine_objective,
            "native_errors": self.native_errors,
            "notes": self.notes,
        }
        if with_routes:
            out["routes"] = self.routes
            out["unassigned"] = self.unassigned
        return out

    @property
    def failed(self) -> bool:
        return self.status != "ok"


def run_engine(engine: str, inst: Instance, **kwargs: Any) -> EngineRun:
    runner: dict[str, Callable[..., EngineRun]] = {
        "ortools": run_dispatch,
        "vroom": run_vroom,
        "pyvrp": run_pyvrp,
    }
    if engine not in runner:
        raise ValueError(f"unknown engine {engine!r}; choose from {ENGINES}")
    try:
        return runner[engine](inst, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports a crash and goes on
        run = EngineRun(engine=engine, status=f"error: {type(exc).__name__}: {exc}")
        run.notes["traceback"] = traceback.format_exc(limit=8)
        return run


def _uses_capacity(inst: Instance) -> bool:
    return any(j.demand for j in inst.jobs) or any(v.capacity is not None for v in inst.vehicles)


def _uses_skills(inst: Instance) -> bool:
    return any(j.skills for j in inst.jobs)


# ---------------------------------------------------------------------------
# VROOM
# ---------------------------------------------------------------------------


def run_vroom(
    inst: Instance,
    *,
    time_limit_s: float | None = None,
    threads: int = 2,
    exploration: int = 5,
    **_: Any,
) -> EngineRun:
    import vroom

    t0 = time.perf_counter()
    cap = _uses_capacity(inst)
    skills = _uses_skills(inst)
    big_cap = sum(j.demand for j in inst.jobs) + 1
    problem = vroom.Input()
    problem.set_durations_matrix("car", np.ascontiguousarray(inst.durations, dtype=np.uint32))
    problem.set_costs_matrix("car", np.ascontiguousarray(inst.distances, dtype=np.uint32))
    vid_of: dict[int, str] = {}
    for k, v in enumerate(inst.vehicles, start=1):
        kw: dict[str, Any] = {
            "start": int(v.start),
            "end": int(v.end),
            "time_window": vroom.TimeWindow(int(v.shift_start), int(v.shift_end)),
        }
        if cap:
            kw["capacity"] = [int(v.capacity if v.capacity is not None else big_cap)]
        if skills:
            kw["skills"] = {int(s) for s in v.skills}
        if v.max_jobs is not None:
            kw["max_tasks"] = int(v.max_jobs)
        problem.add_vehicle(vroom.Vehicle(k, **kw))
        vid_of[k] = v.id
    jid_of: dict[int, str] = {}
    for k, j in enumerate(inst.jobs, start=1):
        kw = {
            "location": int(j.node),
            "default_service": int(j.service),
            "time_windows": [vroom.TimeWindow(int(a), int(b)) for a, b in j.windows],
        }
        if cap:
            kw["delivery"] = [int(j.demand)]
        if skills:
            kw["skills"] = {int(s) for s in j.skills}
        problem.add_job(vroom.Job(k, **kw))
        jid_of[k] = j.id
    build = time.perf_counter() - t0

    solve_kw: dict[str, Any] = {"exploration_level": exploration, "nb_threads": threads}
    if time_limit_s is not None:
        solve_kw["timeout"] = timedelta(seconds=time_limit_s)
    t1 = time.perf_counter()
    sol = problem.solve(**solve_kw)
    wall = time.perf_counter() - t1

    out = sol.to_dict()
    run = EngineRun(engine="vroom", build_s=build, wall_s=wall)
    for r in out.get("routes", []):
        seq = [jid_of[int(s["id"])] for s in r["steps"] if s.get("type") == "job"]
        if seq:
            run.routes[vid_of[int(r["vehicle"])]] = seq
    run.unassigned = [jid_of[int(u["id"])] for u in out.get("unassigned", [])]
    run.engine_objective = float(out["summary"]["cost"])
    run.notes = {"exploration_level": exploration, "threads": threads}
    return run


# ---------------------------------------------------------------------------
# PyVRP
# ---------------------------------------------------------------------------

FORBIDDEN = 10_000_000  # edge weight that makes a skill-incompatible client unreachable


def run_pyvrp(
    inst: Instance,
    *,
    time_limit_s: float = 5.0,
    seed: int = 0,
    optional_prize: int | None = None,
    collect_stats: bool = False,
    first_feasible: bool = False,
    **_: Any,
) -> EngineRun:
    """PyVRP on the same integer matrices.

    ``optional_prize``: when set, every client is optional (``required=False``) with that
    prize, so PyVRP may leave jobs unassigned like the other engines do.

    ``first_feasible`` stops at the first feasible best solution (``time_limit_s`` still caps
    the search); the wall time then includes PyVRP's initial local search, which its own
    runtime statistics (and ``MaxRuntime``) do not count.

    Skills are not native in PyVRP: when jobs need skills we give each distinct vehicle
    skill set its own routing profile whose matrices make incompatible clients unreachable
    (weight ``FORBIDDEN`` into and out of them), which is exact as long as no client shares
    a matrix node with another client or a depot.
    """
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import FirstFeasible, MaxRuntime, MultipleCriteria

    t0 = time.perf_counter()
    n = int(inst.durations.shape[0])
    coords = inst.coords if len(inst.coords) == n else [(0.0, 0.0)] * n
    locations = [Location(x=float(c[1]), y=float(c[0])) for c in coords]
    cap = _uses_capacity(inst)
    big_cap = sum(j.demand for j in inst.jobs) + 1

    depot_nodes = sorted({v.start for v in inst.vehicles} | {v.end for v in inst.vehicles})
    depot_idx = {node: i for i, node in enumerate(depot_nodes)}
    depots = []
    for node in depot_nodes:
        users = [v for v in inst.vehicles if node in (v.start, v.end)]
        depots.append(
            Depot(
                location=node,
                tw_early=min(v.shift_start for v in users),
                tw_late=max(v.shift_end for v in users),
            )
        )

    multi_window = sum(1 for j in inst.jobs if len(j.windows) > 1)
    clients = []
    for j in inst.jobs:
        early = min(a for a, _ in j.windows)
        late = max(b for _, b in j.windows)
        kw: dict[str, Any] = {
            "location": int(j.node),
            "service_duration": int(j.service),
            "tw_early": int(early),
            "tw_late": int(late),
        }
        if cap:
            kw["delivery"] = [int(j.demand)]
        if optional_prize is not None:
            kw["required"] = False
            kw["prize"] = int(optional_prize)
        clients.append(Client(**kw))

    skills = _uses_skills(inst)
    profile_of: dict[frozenset[int], int] = {}
    if skills:
        for v in inst.vehicles:
            profile_of.setdefault(v.skills, len(profile_of))
        nodes = [j.node for j in inst.jobs]
        if len(set(nodes)) != len(nodes) or set(nodes) & set(depot_nodes):
            raise ValueError("skills via profiles needs one matrix node per client")
    else:
        profile_of[frozenset()] = 0

    groups: dict[tuple, list[str]] = {}
    for v in inst.vehicles:
        key = (
            v.start,
            v.end,
            v.shift_start,
            v.shift_end,
            v.capacity,
            v.skills if skills else frozenset(),
        )
        groups.setdefault(key, []).append(v.id)
    vehicle_types = []
    type_vehicle_ids: list[list[str]] = []
    for (start, end, s0, s1, capacity, vskills), ids in groups.items():
        kw = {
            "num_available": len(ids),
            "start_depot": depot_idx[start],
            "end_depot": depot_idx[end],
            "tw_early": int(s0),
            "tw_late": int(s1),
            "profile": profile_of[vskills] if skills else 0,
        }
        if cap:
            kw["capacity"] = [int(capacity if capacity is not None else big_cap)]
        vehicle_types.append(VehicleType(**kw))
        type_vehicle_ids.append(ids)

    dist = np.asarray(inst.distances, dtype=np.int64)
    dur = np.asarray(inst.durations, dtype=np.int64)
    if skills:
        dist_ms, dur_ms = [], []
        for vskills in sorted(profile_of, key=profile_of.get):
            bad = [j.node for j in inst.jobs if not j.skills <= vskills]
            d = dist.copy()
            t = dur.copy()
            if bad:
                for m in (d, t):
                    m[bad, :] = FORBIDDEN
                    m[:, bad] = FORBIDDEN
                    m[bad, bad] = 0
            dist_ms.append(d)
            dur_ms.append(t)
    else:
        dist_ms, dur_ms = [dist], [dur]

    data = ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=dist_ms,
        duration_matrices=dur_ms,
    )
    build = time.perf_counter() - t0

    t1 = time.perf_counter()
    stop: Any = MaxRuntime(time_limit_s)
    if first_feasible:
        stop = MultipleCriteria([FirstFeasible(), stop])
    res = pyvrp_solve(data, stop, seed=seed, collect_stats=collect_stats)
    wall = time.perf_counter() - t1

    run = EngineRun(engine="pyvrp", build_s=build, wall_s=wall)
    run.engine_objective = float(res.cost()) if res.is_feasible() else None
    from pyvrp import ActivityType

    free = [list(ids) for ids in type_vehicle_ids]
    served: set[str] = set()
    for route in res.best.routes():
        seq = [inst.jobs[act.idx].id for act in route.schedule() if act.type == ActivityType.CLIENT]
        if not seq:
            continue
        vid = free[route.vehicle_type()].pop(0)
        run.routes[vid] = seq
        served.update(seq)
    run.unassigned = [j.id for j in inst.jobs if j.id not in served]
    run.notes = {
        "pyvrp_feasible": bool(res.is_feasible()),
        "iterations": int(res.num_iterations),
        "profiles": len(dist_ms),
        "multi_window_jobs_hulled": multi_window,
    }
    if collect_stats and res.stats.is_collecting():
        elapsed = 0.0
        for rt, datum in zip(res.stats.runtimes, res.stats.data, strict=False):
            elapsed += rt
            if datum.best_feas:
                run.first_solution_s = elapsed
                break
    return run


# ---------------------------------------------------------------------------
# Fixroute's dispatch (OR-Tools)
# ---------------------------------------------------------------------------


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    if dataclasses.is_dataclass(cls):
        return {f.name: f for f in dataclasses.fields(cls)}
    return dict.fromkeys(inspect.signature(cls).parameters)  # type: ignore[return-value]


def _build(cls: type, wanted: dict[str, Any], aliases: dict[str, tuple[str, ...]]) -> Any:
    """Instantiate ``cls`` with the keys it actually has (aliases tried in order)."""
    have = _fields(cls)
    kw: dict[str, Any] = {}
    for key, value in wanted.items():
        for name in (key, *aliases.get(key, ())):
            if name in have:
                kw[name] = value
                break
    return cls(**kw)


_TECH_ALIASES = {
    "skills": ("skill_set",),
    "capacity": ("max_load",),
    "max_jobs": ("max_visits",),
}
_JOB_ALIASES = {
    "service": ("service_minutes", "duration"),
    "windows": ("time_windows",),
    "required_skills": ("skills",),
    "demand": ("load",),
}


def to_dispatch_problem(inst: Instance) -> Any:
    """The same instance as a ``dispatch.model.Problem``."""
    from dispatch import model as dm

    techs = []
    for v in inst.vehicles:
        wanted: dict[str, Any] = {
            "id": v.id,
            "name": v.id,
            "start_node": int(v.start),
            "end_node": int(v.end),
            "shift_start": int(v.shift_start),
            "shift_end": int(v.shift_end),
            "skills": frozenset(str(s) for s in v.skills),
        }
        if v.capacity is not None:
            wanted["capacity"] = int(v.capacity)
        if v.max_jobs is not None:
            wanted["max_jobs"] = int(v.max_jobs)
        techs.append(_build(dm.Technician, wanted, _TECH_ALIASES))
    jobs = []
    for j in inst.jobs:
        wanted = {
            "id": j.id,
            "node": int(j.node),
            "service": int(j.service),
            "windows": tuple(dm.TimeWindow(int(a), int(b)) for a, b in j.windows),
            "required_skills": frozenset(str(s) for s in j.skills),
            "demand": int(j.demand),
        }
        if j.priority:
            wanted["priority"] = int(j.priority)
        # An older dispatch without these fields simply does not get them (``_build``).
        if j.ready is not None:
            wanted["ready"] = int(j.ready)
        if j.sla_deadline is not None:
            wanted["sla_deadline"] = int(j.sla_deadline)
        jobs.append(_build(dm.Job, wanted, _JOB_ALIASES))
    durations = np.asarray(inst.durations, dtype=np.int64)
    costs = None
    if inst.distances is not inst.durations and not np.array_equal(inst.distances, durations):
        costs = np.asarray(inst.distances, dtype=np.int64)
    problem = dm.Problem(technicians=tuple(techs), jobs=tuple(jobs), durations=durations, costs=costs)
    if hasattr(problem, "validate"):
        problem.validate()
    return problem


def plan_routes(plan: Any) -> tuple[dict[str, list[str]], list[str]]:
    routes: dict[str, list[str]] = {}
    for r in plan.routes:
        seq = [str(v.job_id) for v in r.visits]
        if seq:
            routes[str(r.technician_id)] = seq
    unassigned = [str(getattr(u, "job_id", u)) for u in plan.unassigned]
    return routes, unassigned


class _ProgressProbe:
    """A ``progress`` callback that records when it was called and what with."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.calls: list[tuple[float, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        payload = args[0] if len(args) == 1 and not kwargs else (args, kwargs)
        self.calls.append((time.perf_counter() - self.t0, payload))

    def first_solution(self) -> tuple[float, Any] | None:
        for t, payload in self.calls:
            if _looks_like_solution(payload):
                return t, payload
        return None


def _looks_like_solution(payload: Any) -> bool:
    """dispatch.solve reports each improving search solution as ``"<worker>: cost <c> after
    <t>s"``; its ``"<worker>: objective <o>"`` lines come at the end, also when the search
    found nothing (then the plan is built by dispatch's own insertion repair)."""
    if isinstance(payload, str):
        return ": cost " in payload
    for name in ("objective", "plan", "assigned", "routes", "solution"):
        if getattr(payload, name, None) is not None:
            return True
        if isinstance(payload, dict) and payload.get(name) is not None:
            return True
    return isinstance(payload, int | float)


_DISPATCH_DIGEST: str | None = None


def run_dispatch(
    inst: Instance,
    *,
    time_limit_s: float = 5.0,
    seed: int = 0,
    workers: int = 2,
    problem: Any = None,
    **_: Any,
) -> EngineRun:
    global _DISPATCH_DIGEST
    if _DISPATCH_DIGEST is None:  # the code this process loads, not what is on disk later
        _DISPATCH_DIGEST = source_digest(REPO_DIR / "dispatch")
    from dispatch.result import check_plan
    from dispatch.solver import solve

    t0 = time.perf_counter()
    if problem is None:
        problem = to_dispatch_problem(inst)
    build = time.perf_counter() - t0

    probe = _ProgressProbe()
    kw: dict[str, Any] = {"time_limit_s": time_limit_s, "workers": workers, "seed": seed}
    if "progress" in inspect.signature(solve).parameters:
        kw["progress"] = probe
    t1 = time.perf_counter()
    probe.t0 = t1
    plan = solve(problem, **kw)
    wall = time.perf_counter() - t1

    run = EngineRun(engine="ortools", build_s=build, wall_s=wall)
    run.routes, run.unassigned = plan_routes(plan)
    run.engine_objective = getattr(plan, "objective", None)
    run.native_errors = list(check_plan(problem, plan))
    first = probe.first_solution()
    if first is not None:
        run.first_solution_s = first[0]
    run.notes = {
        "workers": workers,
        "progress_calls": len(probe.calls),
        "dispatch_sha256": _DISPATCH_DIGEST,
    }
    if first is not None:
        run.notes["first_solution_message"] = str(first[1])[:200]
    if probe.calls:
        calls = probe.calls if len(probe.calls) <= 10 else probe.calls[:5] + probe.calls[-5:]
        run.notes["progress"] = [(round(t, 3), str(p)[:120]) for t, p in calls]
    run.plan = plan
    return run
