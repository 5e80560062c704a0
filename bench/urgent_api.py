"""Urgent order through the API on PostgreSQL: time from request to the answer with a technician.

Seeds a 50-technician, 500-order day in a PostgreSQL database of its own (scheduled by the real
re-plan), then creates ``--orders`` urgent orders with ``POST /api/work-orders`` (Django's test
client in-process: URL routing, auth, validation, the service, the insertion, the writes) and
reports p50/p95/max. Re-plans are queued to Redis and not run, as in production where a worker
takes them; the queue is purged at the end.

    python bench/urgent_api.py [--database-url postgres://postgres@127.0.0.1:5432/fixroute_bench]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import default_out, emit, environment, percentile, table, write_json  # noqa: E402


def _prepare_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _time_phases() -> dict[str, list[float]]:
    """Wrap the steps of placing an order with timers (milliseconds per call)."""
    import functools

    import server.intake.services as intake
    import server.scheduling.services as scheduling
    import server.workorders.selectors as selectors
    import server.workorders.services as work_orders

    phases: dict[str, list[float]] = {}
    steps = [
        (intake, "repair_log"),
        (work_orders, "work_order_create"),
        (scheduling, "nearby_technicians"),
        (scheduling, "snapshot_build"),
        (scheduling, "current_plan"),
        (scheduling, "insert_job"),
        (scheduling, "plan_apply"),
        (work_orders, "work_order_note"),
        (scheduling, "replan_request"),
        (selectors, "work_order_get_for_user"),
    ]
    for module, name in steps:
        fn = getattr(module, name)

        def timed(*a: object, _fn: object = fn, _name: str = name, **k: object) -> object:
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)  # type: ignore[operator]
            finally:
                phases.setdefault(_name, []).append((time.perf_counter() - t0) * 1000.0)

        setattr(module, name, functools.wraps(fn)(timed))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fixroute_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--technicians", type=int, default=50)
    parser.add_argument("--day-orders", type=int, default=500)
    parser.add_argument("--orders", type=int, default=200, help="urgent orders to time")
    parser.add_argument("--replan-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the requests")
    parser.add_argument("--phases", action="store_true", help="time the service steps of a request")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="callers sending at the same time (threads, one connection each)"
    )
    args = parser.parse_args()

    _prepare_database(args.database_url)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "server.config.settings.test",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_QUEUE": "fixroute-bench",
            "SMS_PROVIDER": "memory",
        }
    )
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from server.config.celery_app import app as celery_app
    from server.customers.models import Customer, Site
    from server.scheduling import services as scheduling
    from server.technicians.models import Skill, Technician
    from server.workorders.services import work_order_create

    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    centre = (31.23, 121.47)
    half_km = 15.0

    def point() -> tuple[float, float]:
        return (centre[0] + rng.uniform(-half_km, half_km) / 111.0, centre[1] + rng.uniform(-half_km, half_km) / 95.0)

    skill = Skill.objects.create(code="appliance", name="Appliances")
    # Shifts from half an hour ago to ten hours ahead, whatever the clock says, so the day in
    # the planning horizon is a full working day.
    local_now = timezone.localtime()
    shift_start = (local_now - dt.timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    shift_end = (local_now + dt.timedelta(hours=10)).time().replace(second=0, microsecond=0)
    for i in range(args.technicians):
        lat, lon = point()
        user = User.objects.create_user(username=f"tech{i}", password="x")
        tech = Technician.objects.create(
            user=user,
            name=f"Tech {i}",
            home_latitude=lat,
            home_longitude=lon,
            shift_start=shift_start,
            shift_end=shift_end,
        )
        tech.skills.add(skill)
    for i in range(args.day_orders):
        lat, lon = point()
        customer = Customer.objects.create(name=f"Customer {i}", phone=f"+86139{i:08d}")
        site = Site.objects.create(customer=customer, address=f"Street {i}", latitude=lat, longitude=lon)
        work_order_create(customer=customer, site=site, problem="repair", required_skill=skill, service_minutes=45)
    emit(
        f"Seeded {args.technicians} technicians and {args.day_orders} orders; re-planning "
        f"({args.replan_seconds:.0f} s)..."
    )
    started = time.perf_counter()
    summary = scheduling.day_replan(time_limit_s=args.replan_seconds)
    emit(
        f"Re-plan: {summary.assigned}/{summary.orders} assigned in {time.perf_counter() - started:.1f} s, "
        f"checker violations: {len(summary.violations)}"
    )

    phases = _time_phases() if args.phases else None
    staff = User.objects.create_user(username="bench-staff", password="x", is_staff=True)
    staff.groups.add(Group.objects.get_or_create(name="agent")[0])
    client = Client()
    client.force_login(staff)
    from server.common.warmup import warm_up

    warm_up()  # what server/config/wsgi.py does in each web worker
    timings: list[float] = []
    assigned = 0
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    bodies = []
    for i in range(args.orders):
        lat, lon = point()
        bodies.append(
            {
                "phone": f"+86137{i:08d}",
                "customer_name": f"Urgent {i}",
                "address": f"Urgent street {i}",
                "latitude": lat,
                "longitude": lon,
                "problem": "no water",
                "priority": "urgent",
                "required_skill": "appliance",
                "service_minutes": 30,
            }
        )

    def send(i: int, caller: Client) -> tuple[float, bool]:
        t0 = time.perf_counter()
        response = caller.post("/api/work-orders", bodies[i], content_type="application/json")
        elapsed = (time.perf_counter() - t0) * 1000.0
        if response.status_code != 201:
            raise SystemExit(f"request {i} failed: {response.status_code} {response.content[:300]!r}")
        return elapsed, response.json()["technician_id"] is not None

    started = time.perf_counter()
    if args.concurrency <= 1:
        for i in range(args.orders):
            if profiler is not None:
                profiler.enable()
            elapsed, placed = send(i, client)
            if profiler is not None:
                profiler.disable()
            timings.append(elapsed)
            assigned += placed
    else:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connections

        local = threading.local()

        def caller_send(i: int) -> tuple[float, bool]:
            if not hasattr(local, "client"):
                local.client = Client()
                local.client.force_login(staff)
            try:
                return send(i, local.client)
            finally:
                if i >= args.orders - args.concurrency:
                    connections.close_all()

        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for elapsed, placed in pool.map(caller_send, range(args.orders)):
                timings.append(elapsed)
                assigned += placed
    wall = time.perf_counter() - started
    celery_app.control.purge()
    # Every placement must leave routes the full planner accepts: rebuild the day from the
    # database and count routed orders that no longer fit where the answers put them.
    from server.scheduling.snapshot import current_plan, snapshot_build

    day = current_plan(snapshot_build())
    broken = sum(1 for item in day.unassigned if item.code == "no_room")
    # Concurrent placements must never give one technician overlapping visits or one position twice.
    from server.workorders.models import Status, WorkOrder

    overlaps = 0
    routed = WorkOrder.objects.filter(status=Status.SCHEDULED).order_by("technician_id", "planned_arrival")
    last: dict[int, WorkOrder] = {}
    positions: set[tuple[int, int]] = set()
    for order in routed:
        before = last.get(order.technician_id)
        if (
            before is not None
            and before.planned_arrival + dt.timedelta(minutes=before.service_minutes) > order.planned_arrival
        ):
            overlaps += 1
        if (order.technician_id, order.route_position) in positions:
            overlaps += 1
        positions.add((order.technician_id, order.route_position))
        last[order.technician_id] = order
    if phases is not None:
        rows = [
            {"phase": name, "calls": len(v), "mean_ms": sum(v) / len(v), "p95_ms": percentile(v, 95)}
            for name, v in phases.items()
        ]
        emit(table(rows, ["phase", "calls", "mean_ms", "p95_ms"], digits=1))
    if profiler is not None:
        import pstats

        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(40)
        stats.print_callees("plan_apply|work_order_assign|nearby_technicians|work_orders_retime")
    row = {
        "orders": args.orders,
        "concurrency": args.concurrency,
        "assigned": assigned,
        "no_longer_fit": broken,
        "overlaps": overlaps,
        "orders_per_s": args.orders / wall,
        "p50_ms": percentile(timings, 50),
        "p95_ms": percentile(timings, 95),
        "max_ms": max(timings),
        "mean_ms": sum(timings) / len(timings),
    }
    emit(
        table(
            [row],
            [
                "orders",
                "concurrency",
                "assigned",
                "no_longer_fit",
                "overlaps",
                "orders_per_s",
                "p50_ms",
                "p95_ms",
                "max_ms",
                "mean_ms",
            ],
            digits=1,
        )
    )
    out = args.out or default_out("urgent_api")
    write_json(out, {"environment": environment(), "args": vars(args) | {"out": str(out)}, "result": row})
    emit(f"Wrote {out}")


if __name__ == "__main__":
    main()
