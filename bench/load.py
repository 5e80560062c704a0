"""Load on a real server: CTI calls, then technicians' taps, through gunicorn on PostgreSQL and Redis.

Creates a fresh PostgreSQL database (``--database-url``), seeds 35 technicians on a shift around
now and a customer with a site per call, starts gunicorn (production settings) with a Celery worker
for SMS and one for re-plans on Redis (``--redis-url``), then sends 500 calls to the CTI webhook 50
at a time and 200 taps (on my way, arrived, done) from the technicians at once through the mobile
API with bearer tokens, each tap on the technician's own next job. Prints p50/p95/max per phase and
checks the database: no call lost, no order or tap event twice, no technician with overlapping
visits. Loopback only; every request is bounded by a timeout.

    python bench/load.py [--database-url postgres://postgres@127.0.0.1:5432/fixroute_load]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import default_out, emit, environment, percentile, table, write_json  # noqa: E402
from bench.urgent_api import _prepare_database  # noqa: E402
from tests.integration.services import (  # noqa: E402
    Answer,
    Gunicorn,
    app_env,
    celery_worker_on,
    http_json,
    tail,
    wait_until,
)

TOKEN = "fixroute-load-cti-token"
PASSWORD = "pw-load-123"
NEXT_ACTION = {"en_route": "arrived", "on_site": "done"}


def _phase(name: str, answers: list[Answer], wall: float, server_ms: list[float]) -> dict[str, Any]:
    """Latency as the client saw it (queueing included) and as the web workers spent it."""
    ok = [answer.seconds * 1000.0 for answer in answers if answer.ok]
    statuses = collections.Counter(str(answer.status or "no answer") for answer in answers)
    return {
        "phase": name,
        "requests": len(answers),
        "ok": len(ok),
        "failed": len(answers) - len(ok),
        "per_s": len(answers) / wall if wall else float("nan"),
        "p50_ms": percentile(ok, 50),
        "p95_ms": percentile(ok, 95),
        "max_ms": max(ok, default=float("nan")),
        "mean_ms": sum(ok) / len(ok) if ok else float("nan"),
        "server_p50_ms": percentile(server_ms, 50),
        "server_p95_ms": percentile(server_ms, 95),
        "statuses": dict(statuses),
        "errors": [str(answer) for answer in answers if not answer.ok][:5],
    }


def _calls(url: str, phones: list[str], *, concurrency: int) -> tuple[dict[str, Answer], float]:
    ids = [f"load-{i}" for i in range(len(phones))]

    def send(i: int) -> Answer:
        return http_json(
            url,
            "POST",
            "/webhooks/cti/call",
            {"call_id": ids[i], "caller": phones[i], "called": "4008001234", "reason": "净水器漏水"},
            headers={"X-Fixroute-Token": TOKEN},
            timeout=120,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(send, range(len(phones))))
    return dict(zip(ids, answers, strict=True)), time.perf_counter() - started


def _scheduled_jobs(url: str, token: str) -> list[dict[str, Any]]:
    """The technician's scheduled jobs as the app lists them: today's, else the next day's (a shift
    that runs past midnight, when the bench runs late in the day)."""
    jobs = http_json(url, "GET", "/api/mobile/jobs", token=token, timeout=120)
    if not jobs.ok:
        return []
    scheduled = [job for job in jobs.body["jobs"] if job["status"] == "scheduled"]
    if scheduled:
        return scheduled
    tomorrow = dt.date.fromisoformat(jobs.body["day"]) + dt.timedelta(days=1)
    jobs = http_json(url, "GET", f"/api/mobile/jobs?day={tomorrow.isoformat()}", token=token, timeout=120)
    return [job for job in jobs.body["jobs"] if job["status"] == "scheduled"] if jobs.ok else []


Tap = tuple[str, dict, Answer]  # technician's username, the event sent, the answer


def _taps(url: str, tokens: dict[str, str], *, total: int, concurrency: int) -> tuple[list[Tap], float]:
    """Every technician taps through their own jobs in the order the app lists them (one job in
    progress at a time: on my way, arrived, done, then the next), all at once, until ``total`` taps
    were sent or nobody has a scheduled job left. Job lists are fetched first and between jobs, as
    the app does, and are not timed."""
    lists = {name: _scheduled_jobs(url, token) for name, token in tokens.items()}
    left = [total]
    lock = threading.Lock()
    done: list[Tap] = []

    def claim() -> bool:
        with lock:
            if left[0] <= 0:
                return False
            left[0] -= 1
            return True

    def technician(name: str) -> None:
        token, scheduled = tokens[name], lists[name]
        current: dict | None = None
        while claim():
            if current is None:
                if not scheduled:
                    with lock:
                        left[0] += 1  # not taken: another technician sends it
                    return
                current, action = scheduled[0], "on_my_way"
            else:
                action = NEXT_ACTION[current["status"]]
            body = {
                "client_event_id": f"{name}-{uuid.uuid4().hex[:12]}",
                "work_order_id": current["id"],
                "action": action,
                "device_time": dt.datetime.now(tz=dt.UTC).isoformat(),
            }
            answer = http_json(url, "POST", "/api/mobile/events", body, token=token, timeout=120)
            done.append((name, body, answer))
            if not answer.ok:
                return
            current = answer.body["job"]
            if current["status"] not in NEXT_ACTION:  # done: the next scheduled job, as the app shows it
                current = None
                scheduled = _scheduled_jobs(url, token)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(concurrency, len(tokens))) as pool:
        list(pool.map(technician, tokens))
    return done, time.perf_counter() - started


def _check(calls: dict[str, Answer], taps: list[Tap], repeats: list[Tap]) -> dict[str, Any]:
    """What the database says after the run: losses, duplicates and overlapping visits."""
    from server.intake.models import CallRecord
    from server.workorders.models import Status, WorkOrder, WorkOrderEvent

    recorded = dict(CallRecord.objects.filter(call_id__in=list(calls)).values_list("call_id", "work_order_id"))
    created = {call_id: answer.body["work_order"]["id"] for call_id, answer in calls.items() if answer.status == 201}
    lost = sorted(call_id for call_id, order_id in created.items() if recorded.get(call_id) != order_id)
    orders = WorkOrder.objects.count()
    tapped = [body["client_event_id"] for _, body, answer in taps if answer.ok]
    events = collections.Counter(
        WorkOrderEvent.objects.filter(client_event_id__in=tapped).values_list("client_event_id", flat=True)
    )
    tap_problems = [event_id for event_id in tapped if events[event_id] != 1]
    repeat_problems = [
        body["client_event_id"]
        for _, body, answer in repeats
        if not answer.ok or answer.body.get("duplicate") is not True
    ]
    overlaps = []
    routed = WorkOrder.objects.filter(status=Status.SCHEDULED).order_by("technician_id", "planned_arrival")
    by_technician: dict[int, list[WorkOrder]] = collections.defaultdict(list)
    for order in routed:
        by_technician[order.technician_id].append(order)  # type: ignore[index]
    for mine in by_technician.values():
        positions = [order.route_position for order in mine]
        if len(positions) != len(set(positions)):
            overlaps.append(f"technician {mine[0].technician_id}: route positions {positions}")
        for a, b in zip(mine, mine[1:], strict=False):
            if a.planned_arrival is None or b.planned_arrival is None:
                overlaps.append(f"{a.reference} or {b.reference} is scheduled without a time")
            elif a.planned_arrival + dt.timedelta(minutes=a.service_minutes) > b.planned_arrival:
                overlaps.append(f"{a.reference} and {b.reference} overlap")
    in_progress = collections.Counter(
        WorkOrder.objects.filter(status__in=[Status.EN_ROUTE, Status.ON_SITE]).values_list("technician_id", flat=True)
    )
    return {
        "calls_created": len(created),
        "calls_recorded": len(recorded),
        "lost_calls": lost,
        "orders": orders,
        "duplicate_orders": orders - len(set(created.values())),
        "tap_event_problems": tap_problems,
        "repeated_taps_not_duplicate": repeat_problems,
        "overlaps": overlaps,
        "two_jobs_in_progress": [pk for pk, n in in_progress.items() if n > 1],
        "scheduled": len(routed),
    }


def _purge(redis_url: str, queue: str) -> None:
    """Drop this run's queues (re-plans left unrun, anything a stopped worker did not take)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{queue}*"):
            client.delete(key)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fixroute_load")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--technicians", type=int, default=35)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--call-concurrency", type=int, default=50)
    parser.add_argument("--taps", type=int, default=200)
    parser.add_argument("--tap-concurrency", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers (compose runs 4)")
    parser.add_argument("--no-replan-worker", action="store_true", help="leave re-plans queued, unrun")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    measured_on = environment()  # the load average before this run adds its own

    _prepare_database(args.database_url)
    queue = f"fixroute-load-{uuid.uuid4().hex[:8]}"
    env = app_env(
        database_url=args.database_url,
        redis_url=args.redis_url,
        cti_token=TOKEN,
        queue=queue,
        replan_queue=f"{queue}-replan",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from notifications.models import SmsMessage
    from tests.integration.seed import seed_city

    call_command("migrate", verbosity=0)
    city = seed_city(technicians=args.technicians, customers=args.calls, password=PASSWORD, seed=args.seed)
    logs = Path(tempfile.mkdtemp(prefix="fixroute-load-"))
    emit(f"Seeded {args.technicians} technicians and {args.calls} customers; logs in {logs}")

    web = Gunicorn(env=env, log=logs / "gunicorn.log", workers=args.web_workers)
    with contextlib.ExitStack() as stack:
        stack.callback(_purge, args.redis_url, queue)
        stack.enter_context(
            celery_worker_on(args.redis_url, queues=queue, name=queue, env=env, log=logs / "worker.log")
        )
        if not args.no_replan_worker:
            stack.enter_context(
                celery_worker_on(
                    args.redis_url,
                    queues=f"{queue}-replan",
                    name=f"{queue}-replan",
                    env=env,
                    log=logs / "replan-worker.log",
                    pool=("--pool", "threads", "--concurrency", "1"),
                )
            )
        stack.callback(web.stop)
        web.start()
        wait_until(lambda: len(web.booted_workers()) >= args.web_workers, timeout=60, what="every web worker")
        for _ in range(2 * args.web_workers):
            http_json(web.url, "GET", "/healthz")

        emit(f"{args.calls} calls, {args.call_concurrency} at a time...")
        since = web.log_size()
        calls, calls_wall = _calls(web.url, city.phones, concurrency=args.call_concurrency)
        time.sleep(0.5)  # workers log a request just after answering it
        calls_server = web.server_ms("POST", "/webhooks/cti/call", since=since)
        with ThreadPoolExecutor(max_workers=4) as pool:
            logins = dict(
                zip(
                    city.usernames,
                    pool.map(
                        lambda name: http_json(
                            web.url, "POST", "/api/auth/token", {"username": name, "password": PASSWORD}, timeout=120
                        ),
                        city.usernames,
                    ),
                    strict=True,
                )
            )
        tokens = {name: answer.body["token"] for name, answer in logins.items() if answer.status == 200}
        emit(f"{len(tokens)} technicians logged in; {args.taps} taps, all technicians at once...")
        since = web.log_size()
        taps, taps_wall = _taps(web.url, tokens, total=args.taps, concurrency=args.tap_concurrency)
        time.sleep(0.5)
        taps_server = web.server_ms("POST", "/api/mobile/events", since=since)
        # The phone lost the answer and sends the same tap again: a duplicate, not a second event.
        repeats = [
            (name, body, http_json(web.url, "POST", "/api/mobile/events", body, token=tokens[name]))
            for name, body, answer in taps[:20]
            if answer.ok
        ]
        checks = _check(calls, taps, repeats)
        try:
            wait_until(
                lambda: not SmsMessage.objects.filter(status__in=["queued", "sending"]).exists(),
                timeout=30,
                what="the SMS worker",
            )
        except AssertionError as waited:
            emit(str(waited).splitlines()[0])
        checks["sms"] = dict(collections.Counter(SmsMessage.objects.values_list("status", flat=True)))
        log_tail = tail(web.log, 3000)

    rows = [
        _phase("calls", list(calls.values()), calls_wall, calls_server),
        _phase("taps", [answer for *_, answer in taps], taps_wall, taps_server),
    ]
    columns = [
        "phase",
        "requests",
        "ok",
        "failed",
        "per_s",
        "p50_ms",
        "p95_ms",
        "max_ms",
        "mean_ms",
        "server_p50_ms",
        "server_p95_ms",
    ]
    emit(table(rows, columns, digits=1))
    for row in rows:
        if row["failed"]:
            emit(f"{row['phase']}: answers {row['statuses']}; first failures: {row['errors']}")
    problems = {
        name: value
        for name, value in checks.items()
        if name
        in ("lost_calls", "tap_event_problems", "repeated_taps_not_duplicate", "overlaps", "two_jobs_in_progress")
        and value
    }
    if checks["duplicate_orders"]:
        problems["duplicate_orders"] = checks["duplicate_orders"]
    emit(
        f"Database: {checks['calls_recorded']} calls recorded, {checks['orders']} orders "
        f"({checks['scheduled']} scheduled), {len(taps)} taps, SMS {checks['sms']}; "
        + ("no loss, no duplicates, no overlapping visits" if not problems else f"PROBLEMS: {problems}")
    )
    if any(row["failed"] for row in rows):
        emit(f"gunicorn log tail:\n{log_tail}")
    out = args.out or default_out("load")
    write_json(
        out,
        {
            "environment": measured_on,
            "args": vars(args) | {"out": str(out)},
            "phases": rows,
            "checks": checks,
            "logs": str(logs),
        },
    )
    emit(f"Wrote {out}")
    if problems or any(row["failed"] for row in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
