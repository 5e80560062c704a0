"""A seeded, realistic city day, solved by Fixroute's dispatch (OR-Tools), VROOM and PyVRP.

The day (``make_city``): orders and technicians' homes in a 30 km square around a city
centre (default Shanghai, 31.23 N 121.47 E); 70 % of orders fall around a few hotspots, the
rest anywhere; road time = straight line x 1.3 at 30 km/h, in whole minutes (one matrix,
shared by every engine); 45 min service; one 2, 3 or 4 h arrival window per order on whole
hours inside 08:00-18:00 (service must *start* inside it); 08:00-18:00 shifts starting and
ending at each technician's home. Times are minutes since midnight.

Variants: ``base`` 500 orders / 50 technicians; ``skills`` the same day where there are 4
skills, each technician has 1-3 of them and each order needs one; ``large`` 2,000 orders /
200 technicians.

Reported per variant, engine and time limit: assigned orders, total travel hours, routes,
validity (this benchmark's own checker, plus ``check_plan`` for dispatch), wall time, and the
time to the engine's first complete plan (see ``first_plan`` below for what that means per
engine).

Usage::

    .venv/bin/python bench/city.py --variants base,skills --time-limits 10,30
    .venv/bin/python bench/city.py --variants large --time-limits 30 --engines ortools,vroom
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Instance,
    JobSpec,
    Vehicle,
    check_routes,
    default_out,
    emit,
    environment,
    parse_csv_list,
    road_minutes_matrix,
    table,
    write_json,
)
from bench.engines import ENGINES, EngineRun, run_engine

SHANGHAI = (31.23, 121.47)
DAY_START = 8 * 60
DAY_END = 18 * 60
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {"orders": 500, "technicians": 50, "skills": False},
    "skills": {"orders": 500, "technicians": 50, "skills": True},
    "large": {"orders": 2000, "technicians": 200, "skills": False},
}
# PyVRP: every order is optional with this prize (minutes of travel), far above any detour,
# so serving one more order always beats any travel saving, as in the other two engines.
PYVRP_PRIZE = 100_000


def km_to_latlon(centre: tuple[float, float], x_km: float, y_km: float) -> tuple[float, float]:
    lat0, lon0 = centre
    lat = lat0 + y_km / 110.574
    lon = lon0 + x_km / (111.320 * math.cos(math.radians(lat0)))
    return (lat, lon)


def make_city(
    *,
    orders: int = 500,
    technicians: int = 50,
    skills: bool = False,
    n_skills: int = 4,
    seed: int = 0,
    side_km: float = 30.0,
    centre: tuple[float, float] = SHANGHAI,
    service_min: int = 45,
    hotspots: int = 6,
    hotspot_share: float = 0.7,
    hotspot_sigma_km: float = 2.5,
    circuity: float = 1.3,
    speed_kmh: float = 30.0,
    extra_points: int = 0,
    name: str | None = None,
) -> Instance:
    """Build one city day. ``extra_points`` adds spare matrix nodes after the orders
    (urgent.py uses them for orders that arrive during the day)."""
    rng = random.Random(seed)
    half = side_km / 2.0

    def clip(v: float) -> float:
        return max(-half, min(half, v))

    centres = [(rng.uniform(-half * 0.66, half * 0.66), rng.uniform(-half * 0.66, half * 0.66))
               for _ in range(hotspots)]

    def order_point() -> tuple[float, float]:
        if rng.random() < hotspot_share:
            cx, cy = rng.choice(centres)
            return clip(rng.gauss(cx, hotspot_sigma_km)), clip(rng.gauss(cy, hotspot_sigma_km))
        return rng.uniform(-half, half), rng.uniform(-half, half)

    homes = [(rng.uniform(-half, half), rng.uniform(-half, half)) for _ in range(technicians)]
    sites = [order_point() for _ in range(orders + extra_points)]
    latlon = [km_to_latlon(centre, x, y) for x, y in homes + sites]
    minutes = road_minutes_matrix(latlon, circuity=circuity, speed_kmh=speed_kmh)

    vehicles = []
    for t in range(technicians):
        tskills: frozenset[int] = frozenset()
        if skills:
            tskills = frozenset(rng.sample(range(n_skills), rng.randint(1, 3)))
        vehicles.append(
            Vehicle(
                id=f"T{t + 1:03d}",
                start=t,
                end=t,
                shift_start=DAY_START,
                shift_end=DAY_END,
                skills=tskills,
            )
        )
    jobs = []
    for k in range(orders):
        jobs.append(random_job(rng, f"J{k + 1:04d}", technicians + k, service_min, skills, n_skills))
    if skills:
        covered = frozenset().union(*(v.skills for v in vehicles))
        jobs = [j if j.skills <= covered else _with_skills(j, covered, rng) for j in jobs]
    return Instance(
        name=name or f"city-{orders}x{technicians}{'-skills' if skills else ''}-s{seed}",
        durations=minutes,
        distances=minutes,
        vehicles=vehicles,
        jobs=jobs,
        coords=latlon,
        meta={
            "seed": seed,
            "orders": orders,
            "technicians": technicians,
            "skills": n_skills if skills else 0,
            "side_km": side_km,
            "centre": centre,
            "service_min": service_min,
            "road": f"haversine x {circuity} at {speed_kmh} km/h, rounded minutes",
            "windows": "one 2/3/4 h window on whole hours in 08:00-18:00 (start of service)",
            "shifts": "08:00-18:00 from/to home",
            "extra_points": extra_points,
        },
    )


def random_window(rng: random.Random) -> tuple[int, int]:
    length = rng.choice((2, 3, 4))
    start_h = rng.randint(DAY_START // 60, DAY_END // 60 - length)
    return (start_h * 60, (start_h + length) * 60)


def random_job(
    rng: random.Random, job_id: str, node: int, service: int, skills: bool, n_skills: int
) -> JobSpec:
    return JobSpec(
        id=job_id,
        node=node,
        service=service,
        windows=(random_window(rng),),
        skills=frozenset({rng.randrange(n_skills)}) if skills else frozenset(),
    )


def _with_skills(job: JobSpec, covered: frozenset[int], rng: random.Random) -> JobSpec:
    return JobSpec(
        id=job.id,
        node=job.node,
        service=job.service,
        windows=job.windows,
        skills=frozenset({rng.choice(sorted(covered))}),
    )


def city_variant(variant: str, *, seed: int = 0, extra_points: int = 0) -> Instance:
    spec = VARIANTS[variant]
    return make_city(
        orders=spec["orders"],
        technicians=spec["technicians"],
        skills=spec["skills"],
        seed=seed,
        extra_points=extra_points,
        name=f"{variant}-s{seed}",
    )


# ---------------------------------------------------------------------------


def first_plan(engine: str, inst: Instance, args: argparse.Namespace, main_run: EngineRun) -> dict:
    """Time to the engine's first complete plan, and how many orders that plan assigned.

    * ortools: the first solution ``dispatch.solve`` reports through ``progress`` (text
      ``"<worker>: cost <c> after <t>s"``), timed from the call; its size is estimated as
      orders - cost // drop penalty (the search cost is travel + drop penalties).
      If the search reports no solution, the plan ``solve`` returns (built by its
      insertion repair) is the first plan: its wall time. Only if ``solve`` had no progress
      reports at all: the wall time of ``solve`` with ``--first-limit`` seconds.
    * pyvrp: wall time of ``solve`` stopped by ``FirstFeasible`` (neighbourhoods, the
      initial local search from a random solution, and one iteration); with every order
      optional the first solution is always feasible, so this is PyVRP's first plan.
    * vroom: VROOM has no anytime interface: the wall time of a run at exploration level 0
      with a 1 ms timeout. VROOM's timeout stops only its local search, so this is its
      construction heuristic's plan.
    """
    if engine == "ortools":
        if main_run.notes.get("progress_calls"):
            return _first_from_progress(inst, main_run)
        run = run_engine(engine, inst, time_limit_s=args.first_limit, seed=args.seed,
                         workers=args.workers)
        check = check_routes(inst, run.routes)
        return {
            "first_plan_s": run.wall_s,
            "first_plan_assigned": check.served if not run.failed else None,
            "first_plan_valid": check.ok and not run.native_errors and not run.failed,
            "how": f"solve(time_limit_s={args.first_limit})",
            "status": run.status,
        }
    if engine == "pyvrp":
        run = run_engine(engine, inst, time_limit_s=60.0, seed=args.seed,
                         optional_prize=PYVRP_PRIZE, first_feasible=True)
        how = "solve(FirstFeasible)"
    else:
        run = run_engine(engine, inst, time_limit_s=0.001, threads=args.vroom_threads,
                         exploration=0)
        how = "exploration_level=0, timeout 1 ms (construction only)"
    check = check_routes(inst, run.routes)
    return {
        "first_plan_s": run.wall_s,
        "first_plan_assigned": check.served if not run.failed else None,
        "first_plan_valid": check.ok and not run.failed,
        "how": how,
        "status": run.status,
    }


def _first_from_progress(inst: Instance, run: EngineRun) -> dict:
    from bench.engines import to_dispatch_problem

    first = {"first_plan_s": run.first_solution_s, "how": "progress callback"}
    if run.first_solution_s is None:
        # The search reported no solution: the plan solve returned (dropped jobs put back
        # by dispatch's insertion repair) is the first complete plan.
        first["first_plan_s"] = run.wall_s
        first["how"] = "no search solution reported; plan returned by solve at its end"
        return first
    message = run.notes.get("first_solution_message", "")
    match = re.search(r": cost (\d+)", message)
    if match:
        penalty = to_dispatch_problem(inst).base_drop_penalty()
        first["first_plan_assigned"] = len(inst.jobs) - int(match.group(1)) // penalty
        first["message"] = message
    return first


COLUMNS = [
    "variant",
    "engine",
    "limit_s",
    "assigned",
    "unassigned",
    "valid",
    "travel_h",
    "routes",
    "wall_s",
    "first_plan_s",
    "first_assigned",
    "status",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="base,skills", help="comma list of base,skills,large")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--time-limits", default="10,30", help="comma list of seconds")
    p.add_argument("--seed", type=int, default=0, help="city generator and solver seed")
    p.add_argument("--workers", type=int, default=2, help="dispatch.solve workers")
    p.add_argument("--vroom-threads", type=int, default=2)
    p.add_argument("--vroom-exploration", type=int, default=5)
    p.add_argument("--first-limit", type=float, default=0.1,
                   help="dispatch time limit for the first-plan probe when solve has no progress")
    p.add_argument("--no-first-plan", action="store_true", help="skip the first-plan probes")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/)")
    p.add_argument("--routes", action="store_true", help="store routes in the JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = parse_csv_list(args.variants)
    engines = parse_csv_list(args.engines)
    limits = [float(x) for x in parse_csv_list(args.time_limits)]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {sorted(VARIANTS)}")
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e!r}; choose from {ENGINES}")
    out = args.out or default_out("city")
    payload: dict[str, Any] = {
        "benchmark": "city",
        "settings": vars(args) | {"out": str(out)},
        "environment": environment(),
        "instances": {},
        "runs": [],
    }
    emit(f"City day: variants {variants} x {engines} x limits {limits} s -> {out}")
    emit(table([], COLUMNS, min_width=8))
    for variant in variants:
        inst = city_variant(variant, seed=args.seed)
        payload["instances"][variant] = inst.meta | {"name": inst.name}
        for engine in engines:
            first: dict[str, Any] | None = None
            for limit in limits:
                run = run_engine(
                    engine,
                    inst,
                    time_limit_s=limit,
                    seed=args.seed,
                    workers=args.workers,
                    threads=args.vroom_threads,
                    exploration=args.vroom_exploration,
                    optional_prize=PYVRP_PRIZE,
                )
                check = check_routes(inst, run.routes)
                # Measured once per engine; for dispatch every run reports its own first
                # solution, and the earliest one counts.
                if not args.no_first_plan and not run.failed and (
                    first is None or engine == "ortools"
                ):
                    cand = first_plan(engine, inst, args, run)
                    if cand.get("first_plan_assigned") is None and cand.get("how", "").startswith(
                        "no search"
                    ):
                        cand["first_plan_assigned"] = check.served
                    if first is None or (cand.get("first_plan_s") or 1e18) < (
                        first.get("first_plan_s") or 1e18
                    ):
                        first = cand
                valid = (not run.failed) and check.ok and not run.native_errors
                rec: dict[str, Any] = {
                    "variant": variant,
                    "engine": engine,
                    "limit_s": limit,
                    "assigned": check.served if not run.failed else None,
                    "unassigned": (len(inst.jobs) - check.served) if not run.failed else None,
                    "valid": valid,
                    "travel_h": check.travel / 60.0 if not run.failed else None,
                    "routes": check.routes_used,
                    "first_plan_s": (first or {}).get("first_plan_s"),
                    "first_assigned": (first or {}).get("first_plan_assigned"),
                    "first_plan": first,
                    "checker_errors": check.errors[:10],
                }
                rec.update(run.record(with_routes=args.routes))
                payload["runs"].append(rec)
                write_json(out, payload)
                line = table([rec], COLUMNS, min_width=8).splitlines()[-1]
                if run.failed:
                    line += f"  {run.status}"
                elif not valid:
                    line += f"  {(check.errors or run.native_errors or [])[:2]}"
                emit(line)
    emit()
    emit(table(payload["runs"], COLUMNS))
    emit(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
