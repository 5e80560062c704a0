"""Solomon VRPTW (56 x 100 customers) in the DIMACS convention, against the distance-only BKS.

Convention (see the data folder's README.md): distance = travel time = floor(10 * euclid),
windows and service x10, fleet 25, capacity as given, windows on the start of service,
waiting allowed, back at the depot by its due date; objective = distance only.
Cost / 10 is compared with ``bks_distance_only_dimacs.csv``; gap % = 100 (cost - BKS) / BKS.

A run is *feasible* when all 100 customers are served and the routes pass this
benchmark's own checker (:func:`bench.common.check_routes`), and, for ``ortools``
(Fixroute's ``dispatch.solve``), ``dispatch.result.check_plan`` too.

Usage::

    .venv/bin/python bench/solomon.py --solomon-dir ../shared/data/solomon \\
        --engines ortools,vroom,pyvrp --time-limits 5

The JSON (``--out``, default ``bench/results/solomon.json``) is rewritten after every run;
rerunning with the same ``--out`` skips the (instance, engine, limit) runs already there
(``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SOLOMON_FAMILIES,
    Instance,
    check_routes,
    default_out,
    emit,
    environment,
    mean,
    parse_csv_list,
    read_bks,
    read_solomon,
    read_vrplib_solution,
    solomon_family,
    solomon_instance,
    table,
    write_json,
)
from bench.engines import ENGINES, run_engine


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--solomon-dir", type=Path, required=True, help="folder with C101.txt ...")
    p.add_argument("--instances", default="", help="comma list, e.g. C101,R201 (default all)")
    p.add_argument("--families", default="", help="comma list of C1,C2,R1,R2,RC1,RC2")
    p.add_argument("--engines", default="ortools", help=f"comma list of {','.join(ENGINES)}")
    p.add_argument("--time-limits", default=None, help="comma list of seconds, e.g. 5,30")
    p.add_argument("--time-limit", type=float, default=None, help="one limit (default 5)")
    p.add_argument("--fleet", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="dispatch.solve workers")
    p.add_argument("--vroom-threads", type=int, default=2)
    p.add_argument("--vroom-exploration", type=int, default=5)
    p.add_argument("--bks", type=Path, default=None, help="default <dir>/bks_distance_only_dimacs.csv")
    p.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/)")
    p.add_argument("--fresh", action="store_true", help="ignore runs already in --out")
    p.add_argument("--routes", action="store_true", help="store every plan's routes in the JSON")
    p.add_argument(
        "--verify-bks",
        action="store_true",
        help="only re-cost the stored BKS routes (<dir>/bks_solutions_dimacs) with this "
        "benchmark's parser and checker, and exit",
    )
    return p.parse_args(argv)


def time_limits(args: argparse.Namespace) -> list[float]:
    if args.time_limits:
        return [float(x) for x in parse_csv_list(args.time_limits)]
    return [args.time_limit if args.time_limit is not None else 5.0]


def select_files(args: argparse.Namespace) -> list[Path]:
    files = sorted(args.solomon_dir.glob("*.txt"), key=lambda p: _sort_key(p.stem))
    wanted = {x.upper() for x in parse_csv_list(args.instances)}
    fams = {x.upper() for x in parse_csv_list(args.families)}
    if wanted:
        files = [f for f in files if f.stem.upper() in wanted]
        missing = wanted - {f.stem.upper() for f in files}
        if missing:
            raise SystemExit(f"not found in {args.solomon_dir}: {sorted(missing)}")
    if fams:
        files = [f for f in files if solomon_family(f.stem) in fams]
    if not files:
        raise SystemExit(f"no Solomon instances selected in {args.solomon_dir}")
    return files


def _sort_key(stem: str) -> tuple[int, str]:
    fam = solomon_family(stem)
    return (SOLOMON_FAMILIES.index(fam) if fam in SOLOMON_FAMILIES else 99, stem)


def run_one(inst: Instance, engine: str, limit: float, bks: float | None, args: argparse.Namespace) -> dict[str, Any]:
    run = run_engine(
        engine,
        inst,
        time_limit_s=limit,
        seed=args.seed,
        workers=args.workers,
        threads=args.vroom_threads,
        exploration=args.vroom_exploration,
    )
    check = check_routes(inst, run.routes)
    cost = check.distance / 10.0
    all_served = check.served == len(inst.jobs)
    native_ok = not run.native_errors
    feasible = (not run.failed) and all_served and check.ok and native_ok
    rec: dict[str, Any] = {
        "instance": inst.name,
        "family": solomon_family(inst.name),
        "engine": engine,
        "time_limit_s": limit,
        "feasible": feasible,
        "served": check.served,
        "vehicles": check.routes_used,
        "cost": cost if all_served else None,
        "bks": bks,
        "gap_pct": (100.0 * (cost - bks) / bks) if (feasible and bks) else None,
        "checker_errors": check.errors[:10],
        "checker_ok": check.ok,
        "check_plan_ok": native_ok if run.native_errors is not None else None,
    }
    rec.update(run.record(with_routes=args.routes))
    return rec


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted(
        {(r["time_limit_s"], r["engine"]) for r in runs},
        key=lambda k: (k[0], ENGINES.index(k[1]) if k[1] in ENGINES else 9),
    )
    for limit, engine in keys:
        mine = [r for r in runs if r["time_limit_s"] == limit and r["engine"] == engine]
        groups = [(fam, [r for r in mine if r["family"] == fam]) for fam in SOLOMON_FAMILIES]
        groups.append(("all", mine))
        for fam, rs in groups:
            if not rs:
                continue
            feas = [r for r in rs if r["feasible"]]
            rows.append(
                {
                    "limit_s": limit,
                    "engine": engine,
                    "family": fam,
                    "n": len(rs),
                    "feasible": len(feas),
                    "mean_gap_%": mean(r["gap_pct"] for r in feas),
                    "max_gap_%": max((r["gap_pct"] for r in feas), default=None),
                    "mean_veh": mean(r["vehicles"] for r in feas),
                    "mean_wall_s": mean(r["wall_s"] for r in rs),
                }
            )
    return rows


RUN_COLUMNS = [
    "instance",
    "engine",
    "time_limit_s",
    "feasible",
    "served",
    "vehicles",
    "cost",
    "bks",
    "gap_pct",
    "wall_s",
    "status",
]
STREAM_WIDTH = 8
SUMMARY_COLUMNS = [
    "limit_s",
    "engine",
    "family",
    "n",
    "feasible",
    "mean_gap_%",
    "max_gap_%",
    "mean_veh",
    "mean_wall_s",
]


def verify_bks(files: list[Path], bks: dict[str, float], sol_dir: Path) -> int:
    """Self-test of the parser, the matrix convention and the checker."""
    bad = 0
    for f in files:
        inst = solomon_instance(read_solomon(f))
        sol = sol_dir / f"{f.stem}.sol"
        if not sol.exists():
            emit(f"{f.stem}: no {sol}")
            bad += 1
            continue
        rts = read_vrplib_solution(sol)
        check = check_routes(inst, {f"v{k}": [str(c) for c in r] for k, r in enumerate(rts)})
        want = bks.get(f.stem, -1.0)
        ok = check.ok and check.served == len(inst.jobs) and abs(check.distance / 10 - want) < 1e-6
        if not ok:
            bad += 1
            emit(f"{f.stem}: cost {check.distance / 10} vs BKS {bks.get(f.stem)}, {check.errors[:3]}")
    emit(f"BKS routes re-costed and checked: {len(files) - bad}/{len(files)} match exactly")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engines = parse_csv_list(args.engines)
    for e in engines:
        if e not in ENGINES:
            raise SystemExit(f"unknown engine {e!r}; choose from {ENGINES}")
    limits = time_limits(args)
    files = select_files(args)
    bks_path = args.bks or args.solomon_dir / "bks_distance_only_dimacs.csv"
    bks = {k: v[1] for k, v in read_bks(bks_path).items()} if bks_path.exists() else {}
    if args.verify_bks:
        return verify_bks(files, bks, args.solomon_dir / "bks_solutions_dimacs")
    out = args.out or default_out("solomon")

    runs: list[dict[str, Any]] = []
    if out.exists() and not args.fresh:
        old = json.loads(out.read_text())
        runs = [r for r in old.get("runs", []) if not str(r.get("status", "")).startswith("error")]
        if runs:
            emit(f"resuming: {len(runs)} runs already in {out} (use --fresh to start over)")
    done = {(r["instance"], r["engine"], float(r["time_limit_s"])) for r in runs}
    payload: dict[str, Any] = {
        "benchmark": "solomon",
        "settings": {
            "solomon_dir": str(args.solomon_dir),
            "engines": engines,
            "time_limits_s": limits,
            "fleet": args.fleet,
            "seed": args.seed,
            "dispatch_workers": args.workers,
            "vroom_threads": args.vroom_threads,
            "vroom_exploration": args.vroom_exploration,
            "bks": str(bks_path),
        },
        "environment": environment(),
        "runs": runs,
    }

    emit(f"Solomon: {len(files)} instances x {engines} x limits {limits} s  -> {out}")
    emit(table([], RUN_COLUMNS, min_width=STREAM_WIDTH))
    instances = {f.stem: solomon_instance(read_solomon(f), fleet=args.fleet) for f in files}
    for limit in limits:
        for inst in instances.values():
            for engine in engines:
                if (inst.name, engine, float(limit)) in done:
                    continue
                rec = run_one(inst, engine, limit, bks.get(inst.name), args)
                runs.append(rec)
                write_json(out, payload)
                line = table([rec], RUN_COLUMNS, min_width=STREAM_WIDTH).splitlines()[-1]
                if rec["status"] != "ok":
                    line += f"  {rec['status']}"
                elif not rec["feasible"]:
                    errs = rec["checker_errors"] or rec.get("native_errors") or []
                    line += f"  {errs[:2]}"
                emit(line)

    selected = {f.stem for f in files}
    shown = [r for r in runs if r["instance"] in selected and r["engine"] in engines and r["time_limit_s"] in limits]
    payload["summary"] = summarize(shown)
    write_json(out, payload)
    emit()
    emit("Per family (mean gap over feasible runs; gap vs distance-only DIMACS BKS):")
    emit(table(payload["summary"], SUMMARY_COLUMNS))
    emit(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
