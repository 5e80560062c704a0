"""A seeded, realistic city day, solved by Fixroute's dispatch (OR-Tools), VROOM and PyVRP.

The day (``make_city``): orders and technicians' homes in a 30 km square around a city
centre (default Shanghai, 31.23 N 121.47 E); 70 % of orders fall around a few hotspots, the
rest anywhere; road time = straight line x 1.3 at 30 km/h, in whole minutes (one matrix,
shared by every engine); 45 min service; one 2, 3 or 4 h arrival window per order on whole
hours inside 08:00-18:00 (service must *start* inside it); 08:00-18:00 shifts starting and
ending at each technician's home. Times are minutes since midnight. Every order has a
``ready`` time, when it came in (``ready_times``): 30 % were booked the day before (12:00 to
20:00, so negative), the rest up to 4 h before their window opens; only dispatch plans with
it (waiting cost), the waiting metric is reported for every engine.

Variants: ``base`` 500 orders / 50 technicians; ``skills`` the same day where there are 4
skills, each technician has 1-3 of them and each order needs one; ``large`` 2,000 orders /
200 technicians; ``demo`` the product's demo crew (``make_demo``): 5 technicians in
Shanghai with the demo data's homes and skills, 20 orders arriving over the day, to be served
as soon as possible (a few at an appointment), with the server's priorities and SLA clock.

Reported per variant, engine and time limit: assigned orders, total travel hours, waiting
(service start minus ``ready``, minutes: mean and 95th percentile over served orders),
routes, validity (this benchmark's own checker, plus ``check_plan`` for dispatch), wall time,
and the time to the engine's first complete plan (see ``first_plan`` below for what that
means per engine).

Usage::

    .venv/bin/python bench/city.py --variants base,skills --time-limits 10,30
    .venv/bin/python bench/city.py --variants large --time-limits 30 --engines ortools,vroom
    .venv/bin/python bench/city.py --variants demo,base --time-limits 10 --engines ortools
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from dataclasses import replace
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
    waiting_stats,
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
    "demo": {"orders": 20, "technicians": 5, "skills": True},
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

    centres = [
        (rng.uniform(-half * 0.66, half * 0.66), rng.uniform(-half * 0.66, half * 0.66)) for _ in range(hotspots)
    ]

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
    jobs = ready_times(jobs, seed)
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
            "ready": "30 % booked the day before 12:00-20:00, else 0-4 h before the window",
            "extra_points": extra_points,
        },
    )


def random_window(rng: random.Random) -> tuple[int, int]:
    length = rng.choice((2, 3, 4))
    start_h = rng.randint(DAY_START // 60, DAY_END // 60 - length)
    return (start_h * 60, (start_h + length) * 60)


def random_job(rng: random.Random, job_id: str, node: int, service: int, skills: bool, n_skills: int) -> JobSpec:
    return JobSpec(
        id=job_id,
        node=node,
        service=service,
        windows=(random_window(rng),),
        skills=frozenset({rng.randrange(n_skills)}) if skills else frozenset(),
    )


def _with_skills(job: JobSpec, covered: frozenset[int], rng: random.Random) -> JobSpec:
    return replace(job, skills=frozenset({rng.choice(sorted(covered))}))


def ready_times(jobs: list[JobSpec], seed: int, *, day_before: float = 0.3) -> list[JobSpec]:
    """When each order came in: a ``day_before`` share was booked the previous day between
    12:00 and 20:00 (negative minutes), the rest 0-4 h before its window opens. A separate
    random stream, so the day's sites, windows and matrix stay those of earlier runs."""
    rng = random.Random(1_000_003 + seed)
    out = []
    for job in jobs:
        if rng.random() < day_before:
            ready = rng.randint(12 * 60, 20 * 60) - 24 * 60
        else:
            ready = job.windows[0][0] - rng.randint(0, 4 * 60)
        out.append(replace(job, ready=ready))
    return out


# The product's demo crew (server/intake/management/commands/demo_data.py): name, home,
# skills (0 water purifiers, 1 HVAC, 2 appliances), and its five customers' sites.
DEMO_TECHNICIANS = [
    ("zhang", (31.2304, 121.4737), {0, 2}),
    ("li", (31.2200, 121.5450), {1, 2}),
    ("wang", (31.2800, 121.4500), {0, 1}),
    ("liu", (31.1800, 121.4300), {2}),
    ("chen", (31.2500, 121.3900), {0, 1, 2}),
]
DEMO_SITES = [
    ((31.2290, 121.4560), 0),
    ((31.2350, 121.5060), 1),
    ((31.1950, 121.4370), 2),
    ((31.2080, 121.4460), 0),
    ((31.2990, 121.5110), 1),
]
DEMO_DAY = (8 * 60, 20 * 60)
# The server's priority ranks and SLA clock (server/scheduling/snapshot.py), with the share of
# orders at each: urgent, high, normal, low.
DEMO_PRIORITIES = [(4, 4 * 60, 0.1), (3, 8 * 60, 0.2), (2, 24 * 60, 0.6), (1, 48 * 60, 0.1)]


def _pick_priority(u: float) -> tuple[int, int]:
    """Priority rank and SLA minutes for a uniform draw ``u`` (``DEMO_PRIORITIES`` shares)."""
    for priority, sla, share in DEMO_PRIORITIES:
        if u < share:
            return priority, sla
        u -= share
    return DEMO_PRIORITIES[-1][:2]


def make_demo(
    *, orders: int = 20, seed: int = 0, service_min: int = 60, appointment_share: float = 0.2, name: str | None = None
) -> Instance:
    """The demo day: the demo crew of 5 (homes and skills as in the demo data; 08:00-20:00
    here, where the demo runs round the clock) and ``orders`` calls over the day at the five
    demo customers and other sites in central Shanghai (within about 8 km). A fifth came in
    the evening before (18:00-24:00), the rest between 07:00 and 17:00; each needs one skill
    and can be served from when it came in (the shift start at the earliest) to the end of
    the day, except ``appointment_share`` of them, booked for a 2 h slot 2-6 h later.
    Priorities and SLA deadlines (ready + 4/8/24/48 h) follow the server."""
    rng = random.Random(seed)
    homes = [home for _, home, _ in DEMO_TECHNICIANS]
    sites: list[tuple[tuple[float, float], int]] = list(DEMO_SITES)
    while len(sites) < orders:
        point = km_to_latlon(SHANGHAI, rng.uniform(-8, 8), rng.uniform(-8, 8))
        sites.append((point, rng.randrange(3)))
    rng.shuffle(sites)
    latlon = homes + [point for point, _ in sites[:orders]]
    minutes = road_minutes_matrix(latlon)
    day_start, day_end = DEMO_DAY
    vehicles = [
        Vehicle(id=tid, start=k, end=k, shift_start=day_start, shift_end=day_end, skills=frozenset(skills))
        for k, (tid, _, skills) in enumerate(DEMO_TECHNICIANS)
    ]
    jobs = []
    for k in range(orders):
        # One order in five came in the evening before; the rest during the day.
        evening = rng.random() < 0.2
        ready = rng.randint(18 * 60, 24 * 60) - 24 * 60 if evening else rng.randint(7 * 60, 17 * 60)
        priority, sla = _pick_priority(rng.random())
        window = (max(ready, day_start), day_end)
        if rng.random() < appointment_share:
            start = min(day_end - 120, (max(ready, day_start) // 60 + rng.randint(2, 6)) * 60)
            window = (start, start + 120)
        jobs.append(
            JobSpec(
                id=f"D{k + 1:02d}",
                node=len(homes) + k,
                service=service_min,
                windows=(window,),
                skills=frozenset({sites[k][1]}),
                priority=priority,
                ready=ready,
                sla_deadline=ready + sla,
            )
        )
    return Instance(
        name=name or f"demo-{orders}-s{seed}",
        durations=minutes,
        distances=minutes,
        vehicles=vehicles,
        jobs=jobs,
        coords=latlon,
        meta={
            "seed": seed,
            "orders": orders,
            "technicians": len(vehicles),
            "crew": "demo_data.py: 5 technicians in Shanghai, their homes and skills",
            "service_min": service_min,
            "road": "haversine x 1.3 at 30 km/h, rounded minutes",
            "shifts": "08:00-20:00 from/to home",
            "ready": "20 % the evening before (18:00-24:00), else 07:00-17:00",
            "windows": f"from ready to 20:00; {appointment_share:.0%} a 2 h slot 2-6 h later",
            "priorities": "server ranks 4/3/2/1 at 10/20/60/10 %, SLA ready + 4/8/24/48 h",
        },
    )


def city_variant(variant: str, *, seed: int = 0, extra_points: int = 0) -> Instance:
    if variant == "demo":
        return make_demo(seed=seed, name=f"demo-s{seed}")
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
        run = run_engine(engine, inst, time_limit_s=args.first_limit, seed=args.seed, workers=args.workers)
        check = check_routes(inst, run.routes)
        return {
            "first_plan_s": run.wall_s,
            "first_plan_assigned": check.served if not run.failed else None,
            "first_plan_valid": check.ok and not run.native_errors and not run.failed,
            "how": f"solve(time_limit_s={args.first_limit})",
            "status": run.status,
        }
    if engine == "pyvrp":
        run = run_engine(
            engine, inst, time_limit_s=60.0, seed=args.seed, optional_prize=PYVRP_PRIZE, first_feasible=True
        )
        how = "solve(FirstFeasible)"
    else:
        run = run_engine(engine, inst, time_limit_s=0.001, threads=args.vroom_threads, exploration=0)
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
    "wait_mean",
    "wait_p95",
    "routes",
    "wall_s",
    "first_plan_s",
    "first_assigned",
    "status",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="base,skills", help="comma list of base,skills,large,demo")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--time-limits", default="10,30", help="comma list of seconds")
    p.add_argument("--seed", type=int, default=0, help="city generator and solver seed")
    p.add_argument("--workers", type=int, default=2, help="dispatch.solve workers")
    p.add_argument("--vroom-threads", type=int, default=2)
    p.add_argument("--vroom-exploration", type=int, default=5)
    p.add_argument(
        "--first-limit",
        type=float,
        default=0.1,
        help="dispatch time limit for the first-plan probe when solve has no progress",
    )
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
                if not args.no_first_plan and not run.failed and (first is None or engine == "ortools"):
                    cand = first_plan(engine, inst, args, run)
                    if cand.get("first_plan_assigned") is None and cand.get("how", "").startswith("no search"):
                        cand["first_plan_assigned"] = check.served
                    if first is None or (cand.get("first_plan_s") or 1e18) < (first.get("first_plan_s") or 1e18):
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
                    **(waiting_stats(inst, check) if not run.failed else {}),
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
