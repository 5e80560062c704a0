"""How fast does ``dispatch.insertion.insert_job`` place an urgent order into a planned day?

The day is the city benchmark's ``base`` day (500 orders, 50 technicians, seeded), solved
once by ``dispatch.solve`` with a short limit. Then, one at a time and each into that same
plan, ``--urgent`` (default 200) random urgent orders are inserted; only the
``insert_job`` call is timed (building the ``Problem`` with the extra order is not).

Urgent orders: a new address drawn like the day's orders, 45 min service, a window that
opens on a whole hour between 09:00 and 14:00 and lasts 2-4 h (ending by 18:00).

Each insertion is checked two ways:

* independently: the job is put at the returned technician/position in the plan's routes
  and the routes are re-checked by :func:`bench.common.check_routes` (windows, skills, shift
  end); the returned ``start`` and ``added_travel`` are compared with the re-computation;
* if ``dispatch.insertion.apply_insertion`` exists: applied, then ``check_plan``.

Usage::

    .venv/bin/python bench/urgent.py --urgent 200 --base-limit 10
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.city import DAY_END, VARIANTS, make_city
from bench.common import (
    Instance,
    JobSpec,
    check_routes,
    default_out,
    emit,
    environment,
    mean,
    percentile,
    table,
    write_json,
)
from bench.engines import plan_routes, run_dispatch, to_dispatch_problem


def urgent_jobs(inst: Instance, count: int, first_node: int, seed: int) -> list[JobSpec]:
    rng = random.Random(seed * 7919 + 17)
    out = []
    for k in range(count):
        length = rng.choice((2, 3, 4))
        start_h = rng.randint(9, min(14, DAY_END // 60 - length))
        out.append(
            JobSpec(
                id=f"U{k + 1:03d}",
                node=first_node + k,
                service=45,
                windows=((start_h * 60, (start_h + length) * 60),),
                priority=1,
            )
        )
    return out


def with_job(inst: Instance, job: JobSpec) -> Instance:
    return Instance(
        name=f"{inst.name}+{job.id}",
        durations=inst.durations,
        distances=inst.distances,
        vehicles=inst.vehicles,
        jobs=[*inst.jobs, job],
        coords=inst.coords,
        meta=inst.meta,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--urgent", type=int, default=200, help="number of urgent orders")
    p.add_argument("--base-limit", type=float, default=10.0, help="seconds for the day's solve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from dispatch import insertion as dins
    from dispatch.result import check_plan

    spec = VARIANTS["base"]
    day = make_city(
        orders=spec["orders"],
        technicians=spec["technicians"],
        seed=args.seed,
        extra_points=args.urgent,
        name=f"base-s{args.seed}+{args.urgent}urgent",
    )
    first_node = spec["technicians"] + spec["orders"]
    urgents = urgent_jobs(day, args.urgent, first_node, args.seed)
    out = args.out or default_out("urgent")

    emit(f"Solving the day ({len(day.jobs)} orders, {len(day.vehicles)} technicians) for {args.base_limit:g} s ...")
    base_problem = to_dispatch_problem(day)
    base = run_dispatch(day, time_limit_s=args.base_limit, seed=args.seed, workers=args.workers, problem=base_problem)
    if base.failed:
        emit(f"base solve failed: {base.status}")
        return 1
    base_check = check_routes(day, base.routes)
    emit(
        f"day plan: {base_check.served} assigned, {len(day.jobs) - base_check.served} "
        f"unassigned, travel {base_check.travel / 60:.1f} h, wall {base.wall_s:.1f} s, "
        f"checker {'ok' if base_check.ok else base_check.errors[:2]}, "
        f"check_plan {'ok' if not base.native_errors else base.native_errors[:2]}"
    )
    plan = base.plan
    apply_fn = getattr(dins, "apply_insertion", None)

    records: list[dict[str, Any]] = []
    for job in urgents:
        inst_k = with_job(day, job)
        problem_k = to_dispatch_problem(inst_k)
        t0 = time.perf_counter()
        ins = dins.insert_job(problem_k, plan, job.id)
        dt = time.perf_counter() - t0
        rec: dict[str, Any] = {
            "job": job.id,
            "window": list(job.windows[0]),
            "ms": dt * 1000.0,
            "technician": getattr(ins, "technician_id", None),
            "position": getattr(ins, "position", None),
            "start": getattr(ins, "start", None),
            "added_travel": getattr(ins, "added_travel", None),
            "reason": getattr(ins, "reason", None),
            "candidates": _count(getattr(ins, "candidates", None)),
        }
        if rec["technician"] is not None:
            routes = {k: list(v) for k, v in base.routes.items()}
            seq = routes.setdefault(str(rec["technician"]), [])
            seq.insert(int(rec["position"]), job.id)
            check = check_routes(inst_k, routes)
            rec["indep_ok"] = check.ok
            rec["indep_errors"] = check.errors[:3]
            rec["indep_start"] = check.starts.get(job.id)
            rec["indep_added_travel"] = check.travel - base_check.travel
            if apply_fn is not None:
                try:
                    new_plan = apply_fn(problem_k, plan, ins)
                    errs = list(check_plan(problem_k, new_plan))
                    new_routes, _ = plan_routes(new_plan)
                    rec["applied_ok"] = not errs and job.id in new_routes.get(str(rec["technician"]), [])
                    rec["applied_errors"] = errs[:3]
                except Exception as exc:  # noqa: BLE001 - report and continue
                    rec["applied_ok"] = False
                    rec["applied_errors"] = [f"{type(exc).__name__}: {exc}"]
        records.append(rec)

    times = [r["ms"] for r in records]
    placed = [r for r in records if r["technician"] is not None]
    summary = {
        "urgent": len(records),
        "placed": len(placed),
        "rejected": len(records) - len(placed),
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "max_ms": max(times) if times else None,
        "mean_ms": mean(times),
        "first_call_ms": times[0] if times else None,
        "indep_ok": sum(1 for r in placed if r.get("indep_ok")),
        "start_mismatch": sum(1 for r in placed if r.get("start") is not None and r["start"] != r.get("indep_start")),
        "added_travel_mismatch": sum(
            1 for r in placed if r.get("added_travel") is not None and r["added_travel"] != r.get("indep_added_travel")
        ),
        "applied_ok": (sum(1 for r in placed if r.get("applied_ok")) if apply_fn is not None else None),
    }
    payload = {
        "benchmark": "urgent",
        "settings": vars(args) | {"out": str(out)},
        "environment": environment(),
        "day": day.meta,
        "day_plan": {
            "assigned": base_check.served,
            "travel_h": base_check.travel / 60.0,
            "solve_wall_s": base.wall_s,
            "checker_ok": base_check.ok,
            "check_plan_errors": (base.native_errors or [])[:5],
        },
        "summary": summary,
        "insertions": records,
    }
    write_json(out, payload)
    emit()
    emit(table([summary], list(summary)))
    reasons: dict[str, int] = {}
    for r in records:
        if r["technician"] is None:
            short = str(r["reason"]).split(" (", 1)[0]
            reasons[short] = reasons.get(short, 0) + 1
    if reasons:
        emit("rejections: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()))
    bad = [r for r in placed if not r.get("indep_ok") or r.get("applied_ok") is False]
    for r in bad[:5]:
        emit(f"  infeasible {r['job']}: {r.get('indep_errors') or r.get('applied_errors')}")
    emit(f"\nwrote {out}")
    return 0


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return len(value)
    except TypeError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
