"""Shared pieces of the hand-run benchmarks.

A benchmark builds a :class:`Instance` (engine-neutral: integer matrices, vehicles, jobs),
hands it to the engine runners in :mod:`bench.engines`, then judges every engine's routes
with :func:`check_routes`, a small checker that knows nothing about any engine.

Everything here is plain Python + numpy so the benchmarks can run without Django.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_DIR = BENCH_DIR.parent

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def emit(text: str = "") -> None:
    """Print one line to stdout and flush (benchmarks print as they go)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    digits: int = 2,
    min_width: int = 0,
) -> str:
    """Render rows (dicts) as a fixed-width text table (also valid Markdown).

    ``min_width`` pads every column, so rows printed one by one line up with a header.
    """
    cells = [[fmt(r.get(c), digits) for c in columns] for r in rows]
    widths = [max([len(c), min_width] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def write_json(path: Path, payload: Any) -> None:
    """Write atomically so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=1, sort_keys=False))
    os.replace(tmp, path)


def default_out(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def environment() -> dict[str, Any]:
    """What ran the benchmark: recorded in every JSON so numbers can be compared."""
    info: dict[str, Any] = {
        "when_utc": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    info["dispatch_sha256"] = source_digest(REPO_DIR / "dispatch")
    for mod in ("ortools", "vroom", "pyvrp", "numpy"):
        try:
            from importlib.metadata import version

            dist = {"vroom": "pyvroom"}.get(mod, mod)
            info[mod] = version(dist)
        except Exception:  # noqa: BLE001 - missing optional engine is fine
            info[mod] = None
    return info


def source_digest(folder: Path) -> str | None:
    """Short hash of a package's ``*.py`` files: which optimizer code produced a result."""
    import hashlib

    files = sorted(folder.glob("*.py")) if folder.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


class Stopwatch:
    """``with Stopwatch() as sw: ...``; ``sw.seconds`` afterwards."""

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float:
    xs = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(xs) if xs else float("nan")


def parse_csv_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


# ---------------------------------------------------------------------------
# Engine-neutral instance
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Vehicle:
    id: str
    start: int  # matrix node
    end: int  # matrix node
    shift_start: int
    shift_end: int  # must be back at ``end`` by then
    capacity: int | None = None
    skills: frozenset[int] = frozenset()
    max_jobs: int | None = None


@dataclass(frozen=True)
class JobSpec:
    id: str
    node: int
    service: int
    windows: tuple[tuple[int, int], ...]  # service must START inside one of them
    demand: int = 0
    skills: frozenset[int] = frozenset()
    priority: int = 0
    # When the order became ready to be served (may be negative: before time 0); only
    # dispatch reads it (waiting cost), the metric is computed for every engine.
    ready: int | None = None
    sla_deadline: int | None = None  # soft: end of service; only dispatch reads it


@dataclass
class Instance:
    """Integer matrices (durations drive time, distances drive cost) and the fleet/jobs.

    ``distances`` is the objective's matrix: Solomon uses the same matrix for both,
    the city day uses travel minutes for both.
    """

    name: str
    durations: np.ndarray
    distances: np.ndarray
    vehicles: list[Vehicle]
    jobs: list[JobSpec]
    coords: list[tuple[float, float]] = field(default_factory=list)  # (x, y) or (lat, lon)
    meta: dict[str, Any] = field(default_factory=dict)

    def job(self, job_id: str) -> JobSpec:
        return self._job_index()[job_id]

    def _job_index(self) -> dict[str, JobSpec]:
        idx = getattr(self, "_jidx", None)
        if idx is None:
            idx = {j.id: j for j in self.jobs}
            self._jidx = idx
        return idx


# ---------------------------------------------------------------------------
# Independent route checker (used for every engine, ours included)
# ---------------------------------------------------------------------------


@dataclass
class CheckResult:
    served: int
    unserved: int
    distance: int  # sum over routes of the ``distances`` matrix
    travel: int  # sum over routes of the ``durations`` matrix
    routes_used: int
    errors: list[str]
    starts: dict[str, int] = field(default_factory=dict)  # job id -> earliest service start

    @property
    def ok(self) -> bool:
        return not self.errors


def check_routes(inst: Instance, routes: dict[str, Sequence[str]]) -> CheckResult:
    """Re-cost and check ``routes`` (vehicle id -> ordered job ids) against ``inst``.

    Rules: each job at most once; vehicle skills cover job skills; total demand within
    capacity; max jobs; leave ``start`` no earlier than ``shift_start``; service starts inside
    one of the job's windows (waiting allowed); back at ``end`` by ``shift_end``.
    Unserved jobs are not an error here; callers decide whether they must all be served.
    """
    errors: list[str] = []
    vehicles = {v.id: v for v in inst.vehicles}
    jobs = inst._job_index()
    seen: set[str] = set()
    dist = inst.distances
    dur = inst.durations
    total_d = 0
    total_t = 0
    used = 0
    starts: dict[str, int] = {}
    for vid, seq in routes.items():
        veh = vehicles.get(vid)
        if veh is None:
            errors.append(f"unknown vehicle {vid!r}")
            continue
        if not seq:
            continue
        used += 1
        if veh.max_jobs is not None and len(seq) > veh.max_jobs:
            errors.append(f"{vid}: {len(seq)} jobs > max_jobs {veh.max_jobs}")
        load = 0
        t = veh.shift_start
        prev = veh.start
        for jid in seq:
            job = jobs.get(jid)
            if job is None:
                errors.append(f"{vid}: unknown job {jid!r}")
                continue
            if jid in seen:
                errors.append(f"job {jid} visited twice")
            seen.add(jid)
            if not job.skills <= veh.skills:
                errors.append(f"{vid}: lacks skills {sorted(job.skills - veh.skills)} for {jid}")
            load += job.demand
            total_d += int(dist[prev][job.node])
            total_t += int(dur[prev][job.node])
            arrive = t + int(dur[prev][job.node])
            start = None
            for a, b in sorted(job.windows):
                if arrive <= b:
                    start = max(arrive, a)
                    break
            if start is None:
                errors.append(f"{vid}: job {jid} reached at {arrive}, after its windows {job.windows}")
                start = arrive
            starts[jid] = start
            t = start + job.service
            prev = job.node
        total_d += int(dist[prev][veh.end])
        total_t += int(dur[prev][veh.end])
        back = t + int(dur[prev][veh.end])
        if back > veh.shift_end:
            errors.append(f"{vid}: back at end at {back} > shift end {veh.shift_end}")
        if veh.capacity is not None and load > veh.capacity:
            errors.append(f"{vid}: load {load} > capacity {veh.capacity}")
    return CheckResult(
        served=len(seen),
        unserved=len(inst.jobs) - len(seen & set(jobs)),
        distance=total_d,
        travel=total_t,
        routes_used=used,
        errors=errors,
        starts=starts,
    )


def waiting_stats(inst: Instance, check: CheckResult) -> dict[str, float | int]:
    """Waiting of served jobs that have a ``ready`` time: service start (the earliest
    schedule :func:`check_routes` computed) minus ``ready``, in matrix time units."""
    waits = [
        start - job.ready
        for jid, start in check.starts.items()
        if (job := inst._job_index().get(jid)) is not None and job.ready is not None
    ]
    return {
        "wait_mean": mean(waits),
        "wait_p95": percentile(waits, 95),
        "wait_max": max(waits) if waits else float("nan"),
        "wait_jobs": len(waits),
    }


# ---------------------------------------------------------------------------
# Solomon
# ---------------------------------------------------------------------------

SOLOMON_FAMILIES = ("C1", "C2", "R1", "R2", "RC1", "RC2")


def solomon_family(name: str) -> str:
    stem = name.upper()
    prefix = "RC" if stem.startswith("RC") else stem[0]
    return prefix + stem[len(prefix)]


@dataclass(frozen=True)
class SolomonInstance:
    name: str
    vehicles: int
    capacity: int
    # row 0 is the depot: (x, y, demand, ready, due, service)
    rows: tuple[tuple[int, int, int, int, int, int], ...]


def read_solomon(path: Path) -> SolomonInstance:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    name = next(ln for ln in lines if ln)
    vehicles = capacity = None
    rows: list[tuple[int, int, int, int, int, int]] = []
    for i, ln in enumerate(lines):
        if ln.upper().startswith("NUMBER") and "CAPACITY" in ln.upper():
            vehicles, capacity = (int(x) for x in lines[i + 1].split()[:2])
        parts = ln.split()
        if len(parts) == 7 and all(p.lstrip("-").isdigit() for p in parts):
            _, x, y, demand, ready, due, service = (int(p) for p in parts)
            rows.append((x, y, demand, ready, due, service))
    if vehicles is None or capacity is None or len(rows) < 2:
        raise ValueError(f"{path}: not a Solomon instance")
    return SolomonInstance(name=name, vehicles=vehicles, capacity=capacity, rows=tuple(rows))


def solomon_instance(sol: SolomonInstance, *, fleet: int = 25) -> Instance:
    """DIMACS convention: matrix = floor(10 * euclid), windows and service x10."""
    xy = np.array([(r[0], r[1]) for r in sol.rows], dtype=float)
    diff = xy[:, None, :] - xy[None, :, :]
    euclid = np.sqrt((diff**2).sum(axis=2))
    matrix = np.floor(10.0 * euclid + 1e-9).astype(np.int64)
    depot = sol.rows[0]
    vehicles = [
        Vehicle(
            id=f"v{k}",
            start=0,
            end=0,
            shift_start=10 * depot[3],
            shift_end=10 * depot[4],
            capacity=sol.capacity,
        )
        for k in range(fleet)
    ]
    jobs = [
        JobSpec(
            id=str(i),  # customer number as in the .txt
            node=i,
            service=10 * r[5],
            windows=((10 * r[3], 10 * r[4]),),
            demand=r[2],
        )
        for i, r in enumerate(sol.rows)
        if i > 0
    ]
    return Instance(
        name=sol.name,
        durations=matrix,
        distances=matrix,
        vehicles=vehicles,
        jobs=jobs,
        coords=[(float(r[0]), float(r[1])) for r in sol.rows],
        meta={"convention": "DIMACS floor(10*euclid), x10 times", "fleet": fleet},
    )


def read_bks(path: Path) -> dict[str, tuple[int, float]]:
    """instance -> (vehicles, distance) from a ``bks_*.csv``."""
    out: dict[str, tuple[int, float]] = {}
    for i, ln in enumerate(path.read_text().splitlines()):
        if i == 0 or not ln.strip():
            continue
        parts = ln.split(",")
        out[parts[0].strip()] = (int(parts[1]), float(parts[2]))
    return out


def read_vrplib_solution(path: Path) -> list[list[int]]:
    """Routes of a VRPLIB ``.sol`` file as lists of customer numbers."""
    routes = []
    for ln in path.read_text().splitlines():
        if ln.lower().startswith("route"):
            routes.append([int(x) for x in ln.split(":", 1)[1].split()])
    return routes


# ---------------------------------------------------------------------------
# Geography (city benchmarks)
# ---------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def haversine_km_matrix(latlon: np.ndarray) -> np.ndarray:
    lat = np.radians(latlon[:, 0])[:, None]
    lon = np.radians(latlon[:, 1])[:, None]
    dlat = lat - lat.T
    dlon = lon - lon.T
    a = np.sin(dlat / 2) ** 2 + np.cos(lat) * np.cos(lat.T) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def road_minutes_matrix(
    latlon: Sequence[tuple[float, float]], *, circuity: float = 1.3, speed_kmh: float = 30.0
) -> np.ndarray:
    """Integer minutes: straight line x circuity at a constant speed, rounded."""
    km = haversine_km_matrix(np.asarray(latlon, dtype=float))
    return np.rint(km * circuity / speed_kmh * 60.0).astype(np.int64)


def hhmm(minute: int | float | None) -> str:
    if minute is None:
        return "-"
    m = int(round(minute))
    return f"{m // 60:02d}:{m % 60:02d}"


def server_env(tmp: Path, *, database_url: str = "", **extra: str) -> dict[str, str]:
    """The environment of a production-settings server a benchmark starts (gunicorn, manage.py):
    DEBUG off, plain HTTP, its database (SQLite under ``tmp`` unless a PostgreSQL URL is given),
    no geocoder, texts kept in memory, no login lockout, no broker (tasks run in-process)."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "server.config.settings.production",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "MEDIA_ROOT": str(tmp / "media"),
        "GEOCODER": "none",
        "SMS_PROVIDER": "memory",
        "AXES_ENABLED": "0",
        "PYTHONPATH": str(REPO_DIR),
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env
