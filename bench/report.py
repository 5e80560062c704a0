"""Merge benchmark JSON files into Markdown tables (for issues and notes).

Usage::

    .venv/bin/python bench/report.py bench/results/solomon-5s.json bench/results/solomon-30s.json
    .venv/bin/python bench/report.py bench/results/city.json

Solomon files give one per-instance table (cost / 10 and gap % per engine and limit, "inf"
for an infeasible run) and the per-family summary; city files give their runs table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, table
from bench.engines import ENGINES
from bench.solomon import SUMMARY_COLUMNS, _sort_key, summarize


def solomon_tables(runs: list[dict[str, Any]]) -> None:
    order = {e: i for i, e in enumerate(ENGINES)}
    keys = sorted(
        {(r["engine"], r["time_limit_s"]) for r in runs},
        key=lambda k: (k[1], order.get(k[0], 9), k[0]),
    )
    by = {(r["instance"], r["engine"], r["time_limit_s"]): r for r in runs}
    rows = []
    for inst in sorted({r["instance"] for r in runs}, key=_sort_key):
        bks = next((r["bks"] for r in runs if r["instance"] == inst), None)
        row: dict[str, Any] = {"instance": inst, "bks": bks}
        for engine, limit in keys:
            r = by.get((inst, engine, limit))
            col = f"{engine}@{limit:g}s"
            if r is None:
                row[col] = None
            elif not r["feasible"]:
                row[col] = f"inf ({r['served']} served)"
            else:
                row[col] = f"{r['cost']:.1f} ({r['gap_pct']:+.2f}%)"
        rows.append(row)
    cols = ["instance", "bks"] + [f"{e}@{lim:g}s" for e, lim in keys]
    emit(table(rows, cols, digits=1))
    emit()
    emit(table(summarize(runs), SUMMARY_COLUMNS))


CITY_COLUMNS = [
    "variant",
    "engine",
    "limit_s",
    "assigned",
    "valid",
    "travel_h",
    "routes",
    "wall_s",
    "first_plan_s",
    "first_assigned",
]


def main(argv: list[str]) -> int:
    solomon: list[dict[str, Any]] = []
    for name in argv:
        data = json.loads(Path(name).read_text())
        kind = data.get("benchmark")
        if kind == "solomon":
            solomon.extend(data["runs"])
        elif kind == "city":
            emit(
                f"{name}  (dispatch {data['environment'].get('dispatch_sha256')}, "
                f"load at start {data['environment'].get('loadavg_at_start')})"
            )
            emit(table(data["runs"], CITY_COLUMNS))
            emit()
        elif kind == "urgent":
            emit(f"{name}: day plan {data['day_plan']}")
            emit(table([data["summary"]], list(data["summary"])))
            emit()
        else:
            emit(f"{name}: unknown benchmark {kind!r}")
    if solomon:
        solomon_tables(solomon)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
