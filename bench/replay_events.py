"""Replay a day of queued technician events to a local server, as the app's outbox sends them.

Starts its own server (gunicorn, production settings) on the embedded default (SQLite in a
temporary folder, tasks in-process) or on ``--database-url`` (PostgreSQL, dropped and created),
seeds ``--technicians`` technicians with enough scheduled jobs, and gives each technician a phone:
a ``mobile.services.outbox.Outbox`` (sqlite) and a ``mobile.services.api_client.ApiClient``. The
phones queue ``--events`` events in all (on my way, location reports while driving, arrived, done
with a resolution and parts; device times spread over the last ``--span-minutes``, so the older
ones arrive "late" as after a day offline), then all drain at once, each in order and in batches of
up to 50 events a request as the app's ``SyncEngine`` does (no Kivy; ``--one-by-one``: one event a
request, as to a server without batches). Then ``--resend`` (10 %) of the sent events are
queued again with the same client event id (the answer was lost) and drained: each must be
answered as a duplicate. Prints the time, events/s, and what the database holds: rows per client
event id (must be one), and a JSON line.

    python bench/replay_events.py [--events 1000] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import default_out, emit, environment, percentile, server_env, write_json  # noqa: E402
from mobile.services.api_client import ApiClient, AuthError, RejectedError, TransientError  # noqa: E402
from mobile.services.outbox import BATCH_BYTES, BATCH_EVENTS, Outbox, OutboxEvent  # noqa: E402
from tests.integration.services import free_port, http_json, tail, wait_until  # noqa: E402

PASSWORD = "pw-replay-123"
LOCATIONS_PER_DRIVE = 3
# One job's events: on my way, positions while driving, arrived, done.
EVENTS_PER_JOB = 3 + LOCATIONS_PER_DRIVE
CENTRE = (31.2304, 121.4737)

SEED = """
import datetime as dt, json, os, random
from django.contrib.auth.models import Group, User
from django.utils import timezone
from server.accounts.models import Role
from server.customers.models import Customer, Site
from server.technicians.models import Skill, Technician
from server.workorders import services

rng = random.Random(int(os.environ["BENCH_SEED"]))
technicians, jobs = int(os.environ["BENCH_TECHNICIANS"]), int(os.environ["BENCH_JOBS"])
skill = Skill.objects.get_or_create(code="water_purifier", defaults={"name": "water purifier"})[0]
group = Group.objects.get_or_create(name=Role.TECHNICIAN.value)[0]
start = timezone.now() + dt.timedelta(hours=1)
out = {}
for t in range(technicians):
    user = User.objects.create_user(username=f"replay{t}", password=os.environ["BENCH_PASSWORD"])
    user.groups.add(group)
    technician = Technician.objects.create(
        user=user, name=f"师傅{t}", home_latitude=31.23 + rng.uniform(-0.1, 0.1),
        home_longitude=121.47 + rng.uniform(-0.1, 0.1), shift_start=dt.time(0, 0), shift_end=dt.time(0, 0),
    )
    technician.skills.set([skill])
    orders = []
    for j in range(jobs):
        customer = Customer.objects.create(name=f"客户{t}-{j}", phone=f"+86139{t:03d}{j:05d}", language="zh-CN")
        site = Site.objects.create(
            customer=customer, address=f"上海市测试路{t}-{j}号",
            latitude=31.23 + rng.uniform(-0.1, 0.1), longitude=121.47 + rng.uniform(-0.1, 0.1),
        )
        order = services.work_order_create(customer=customer, site=site, problem="净水器漏水", required_skill=skill)
        arrival = start + dt.timedelta(minutes=40 * j)
        services.work_order_assign(
            work_order_id=order.pk, technician=technician, day=timezone.localtime(arrival).date(),
            planned_arrival=arrival, route_position=j + 1,
        )
        orders.append([order.pk, site.latitude, site.longitude])
    out[user.username] = orders
print("SEEDED " + json.dumps(out))
"""


def _queue_day(outbox: Outbox, orders: list[list[float]], *, count: int, start: dt.datetime, step: dt.timedelta) -> int:
    """Queue ``count`` events for one phone: job after job, on my way, positions, arrived, done."""
    queued = 0
    moment = start
    rng = random.Random(len(orders))

    def at() -> str:
        nonlocal moment
        moment += step
        return moment.isoformat(timespec="milliseconds")

    for order_id, lat, lon in orders:
        if queued >= count:
            break
        plan: list[tuple[str, dict[str, Any]]] = [("on_my_way", {})]
        plan += [("location", {"t": i}) for i in range(LOCATIONS_PER_DRIVE, 0, -1)]
        plan += [
            ("arrived", {}),
            ("done", {"resolution": "更换滤芯，试机正常", "parts": [{"name": "RO 滤芯", "quantity": 1}]}),
        ]
        for action, details in plan[: count - queued]:
            if action == "location":
                near = details["t"] * 0.004
                outbox.add_location(
                    work_order_id=int(order_id),
                    latitude=lat + near + rng.uniform(-0.0005, 0.0005),
                    longitude=lon + near,
                    accuracy_m=10.0,
                    device_time=at(),
                )
            else:
                outbox.add(
                    work_order_id=int(order_id),
                    action=action,
                    latitude=lat,
                    longitude=lon,
                    device_time=at(),
                    details=details or None,
                )
            queued += 1
    return queued


Sent = list[tuple[OutboxEvent, dict[str, Any] | str]]


def _drain(api: ApiClient, path: str, *, batches: bool, retries: int = 20) -> tuple[Sent, list[float]]:
    """Send the outbox as the app's SyncEngine does: oldest first, in batches of up to 50
    (``/api/mobile/events/batch``; one at a time to ``/events`` and ``/location`` without
    ``batches``), each event settled by its own result (a refused tap kept as rejected, a refused
    position dismissed); a transient failure retries the same request. The outbox file is opened
    in the sending thread (sqlite connections stay in theirs), as after the app restarts.
    Returns (event, its result or refusal) per event, and the seconds of each request."""
    outbox = Outbox(path)
    sent: Sent = []
    requests: list[float] = []
    failures = 0
    try:
        while batch := _next(outbox, batches):
            started = time.perf_counter()
            try:
                results = _send(api, batch, batches)
            except (TransientError, AuthError) as exc:
                outbox.record_failure(batch[0].id, exc.message)
                failures += 1
                if failures > retries:
                    raise
                time.sleep(0.2)
                continue
            requests.append(time.perf_counter() - started)
            for event, result in zip(batch, results, strict=True):
                refusal = outbox.settle(event, status=result["status"], message=str(result.get("message") or ""))
                sent.append((event, result if result["status"] == 200 else f"rejected {result['status']}: {refusal}"))
    finally:
        outbox.close()
    return sent, requests


def _drain_all(phones: dict[str, tuple[ApiClient, Outbox]], *, batches: bool) -> dict[str, tuple[Sent, list[float]]]:
    """Every phone drains its outbox at the same time, each in its own thread."""
    with ThreadPoolExecutor(max_workers=len(phones)) as pool:
        drained = pool.map(lambda name: _drain(phones[name][0], phones[name][1].path, batches=batches), phones)
        return dict(zip(phones, drained, strict=True))


def _next(outbox: Outbox, batches: bool) -> list[OutboxEvent]:
    if batches:
        return outbox.next_pending_batch(max_events=BATCH_EVENTS, max_bytes=BATCH_BYTES)
    head = outbox.next_pending()
    return [head] if head is not None else []


def _send(api: ApiClient, batch: list[OutboxEvent], batches: bool) -> list[dict[str, Any]]:
    """One request; a result per event: the answer with its ``status``."""
    if batches:
        events = [dict(event.payload(), type="location" if event.kind == "location" else "tap") for event in batch]
        return list(api.send_batch(events)["results"])
    [event] = batch
    send = api.send_location if event.kind == "location" else api.send_event
    try:
        return [dict(send(event.payload()), status=200)]
    except RejectedError as exc:
        return [{"status": exc.status or 400, "message": exc.message}]


def _server(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "server.config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", str(workers), "--access-logfile", "-", "--error-logfile", "-"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited ({process.returncode}):\n{tail(log)}")
        return http_json(url, "GET", "/healthz", timeout=5).status == 200

    wait_until(healthy, timeout=90, what="gunicorn to answer /healthz", interval=0.3)
    return process, url


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


CHECK = """
import collections, json
from django.db.models import Count
from notifications.models import SmsMessage
from server.technicians.models import TechnicianLocation
from server.workorders.models import WorkOrderEvent
ids = json.load(open(os.environ["BENCH_IDS"]))
taps = collections.Counter(
    WorkOrderEvent.objects.filter(client_event_id__in=ids["taps"]).values_list("client_event_id", flat=True)
)
places = collections.Counter(
    TechnicianLocation.objects.filter(client_event_id__in=ids["locations"]).values_list("client_event_id", flat=True)
)
twice_sms = (
    SmsMessage.objects.filter(kind__in=["on_my_way", "arrived", "completed"])
    .values("work_order_id", "kind").annotate(n=Count("id")).filter(n__gt=1).count()
)
print("CHECKED " + json.dumps({
    "tap_rows": sum(taps.values()),
    "location_rows": sum(places.values()),
    "ids_with_more_than_one_row": sum(1 for n in taps.values() if n > 1) + sum(1 for n in places.values() if n > 1),
    "taps_missing": sum(1 for i in ids["taps"] if taps[i] == 0),
    "locations_missing": sum(1 for i in ids["locations"] if places[i] == 0),
    "texts_of_one_kind_twice_for_an_order": twice_sms,
    "sms": dict(collections.Counter(SmsMessage.objects.values_list("kind", flat=True))),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--technicians", type=int, default=5)
    parser.add_argument("--resend", type=float, default=0.10, help="share of sent events sent again (lost answers)")
    parser.add_argument("--span-minutes", type=float, default=30.0, help="device times spread over this long ago")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn sync workers (one a core)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (dropped and created); SQLite if empty")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--one-by-one", action="store_true", help="one event a request (/events, /location), as without batches"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    batches = not args.one_by_one
    measured_on = environment()

    tmp = Path(tempfile.mkdtemp(prefix="fixroute-replay-"))
    if args.database_url:
        from bench.urgent_api import _prepare_database

        _prepare_database(args.database_url)
    env = server_env(tmp, database_url=args.database_url, SMS_QUIET_HOURS="")
    manage = str(REPO / "server" / "manage.py")
    per_phone = -(-args.events // args.technicians)
    jobs = -(-per_phone // EVENTS_PER_JOB)
    emit(f"Preparing {env['DATABASE_URL'].split('@')[-1]}: {args.technicians} technicians x {jobs} jobs ...")
    _run([sys.executable, manage, "migrate", "--noinput"], env)
    seeded = _run(
        [sys.executable, manage, "shell", "-c", SEED],
        env
        | {
            "BENCH_TECHNICIANS": str(args.technicians),
            "BENCH_JOBS": str(jobs),
            "BENCH_PASSWORD": PASSWORD,
            "BENCH_SEED": str(args.seed),
        },
    )
    routes: dict[str, list[list[float]]] = json.loads(seeded.stdout.split("SEEDED ", 1)[1].strip().splitlines()[0])

    log = tmp / "gunicorn.log"
    process, url = _server(env, args.workers, log)
    phones: dict[str, tuple[ApiClient, Outbox]] = {}
    try:
        for username in routes:
            api = ApiClient(url, timeout=60)
            api.token = api.login(username=username, password=PASSWORD)["token"]
            phones[username] = (api, Outbox(str(tmp / f"{username}.outbox.sqlite3")))
        now = dt.datetime.now(dt.UTC).astimezone()
        span = dt.timedelta(minutes=args.span_minutes)
        queued = 0
        for username, (_, outbox) in phones.items():
            count = min(per_phone, args.events - queued)
            queued += _queue_day(outbox, routes[username], count=count, start=now - span, step=span / (count + 1))
        emit(f"Queued {queued} events on {len(phones)} phones; draining all at once on {url} ...")

        started = time.perf_counter()
        drained = _drain_all(phones, batches=batches)
        wall = time.perf_counter() - started

        # Lost answers: the phone did not hear back and sends the same events again.
        rng = random.Random(args.seed)
        everything = [
            (name, event) for name, (rows, _) in drained.items() for event, body in rows if isinstance(body, dict)
        ]
        again = rng.sample(everything, k=int(len(everything) * args.resend))
        for name, event in again:
            phones[name][1].add(
                work_order_id=event.work_order_id,
                action=event.action,
                latitude=event.latitude,
                longitude=event.longitude,
                device_time=event.device_time,
                client_event_id=event.client_event_id,
                details=event.details() or None,
                kind=event.kind,
            )
        resend_started = time.perf_counter()
        resent = _drain_all(phones, batches=batches)
        resend_wall = time.perf_counter() - resend_started
    finally:
        process.terminate()
        process.wait(timeout=30)
        for _, outbox in phones.values():
            outbox.close()

    rows = [row for rows, _ in drained.values() for row in rows]
    refused = [(event.kind, event.action, body) for event, body in rows if not isinstance(body, dict)]
    not_duplicate = [
        event.client_event_id
        for rows_, _ in resent.values()
        for event, body in rows_
        if not (isinstance(body, dict) and body.get("duplicate") is True)
    ]
    ids = {
        "taps": [event.client_event_id for event, body in rows if event.kind != "location" and isinstance(body, dict)],
        "locations": [event.client_event_id for event, body in rows if event.kind == "location"],
    }
    (tmp / "ids.json").write_text(json.dumps(ids))
    checked = _run(
        [sys.executable, manage, "shell", "-c", "import os\n" + CHECK], env | {"BENCH_IDS": str(tmp / "ids.json")}
    )
    database = json.loads(checked.stdout.split("CHECKED ", 1)[1].strip().splitlines()[0])
    accepted = collections.Counter(
        body.get("accepted") for event, body in rows if event.kind == "location" and isinstance(body, dict)
    )
    latencies = [seconds * 1000 for _, requests in drained.values() for seconds in requests]
    summary = {
        "events": len(rows),
        "phones": len(phones),
        "seconds": round(wall, 3),
        "events_per_s": round(len(rows) / wall, 1) if wall else None,
        "batches": batches,
        "requests": len(latencies),
        "p50_request_ms": round(percentile(latencies, 50), 1),
        "p95_request_ms": round(percentile(latencies, 95), 1),
        "refused": len(refused),
        "resent": sum(len(r) for r, _ in resent.values()),
        "resent_seconds": round(resend_wall, 3),
        "resent_not_answered_duplicate": len(not_duplicate),
        "duplicates_created": database["ids_with_more_than_one_row"],
        "locations_accepted": accepted.get(True, 0),
        "locations_history_only": accepted.get(False, 0),
        "database": database,
        "database_url": env["DATABASE_URL"].split("@")[-1],
    }
    emit(
        f"{summary['events']} events from {summary['phones']} phones in {wall:.2f} s "
        f"({summary['events_per_s']} events/s; {summary['requests']} requests"
        f"{' of up to ' + str(BATCH_EVENTS) + ' events' if batches else ', one event each'}: "
        f"p50 {summary['p50_request_ms']} ms, p95 {summary['p95_request_ms']} ms)"
    )
    emit(
        f"resent {summary['resent']} (lost answers) in {resend_wall:.2f} s: "
        f"{summary['resent'] - len(not_duplicate)} answered duplicate; "
        f"duplicates created on the server: {summary['duplicates_created']}"
    )
    emit(f"database: {database}")
    if refused:
        emit(f"refused: {refused[:5]}")
    out = args.out or default_out("replay_events")
    write_json(out, {"environment": measured_on, "args": vars(args) | {"out": str(out)}, "summary": summary})
    emit(json.dumps({k: v for k, v in summary.items() if k != "database"}))
    problems = (
        refused
        or not_duplicate
        or summary["duplicates_created"]
        or database["taps_missing"]
        or database["locations_missing"]
        or database["texts_of_one_kind_twice_for_an_order"]
    )
    if problems:
        emit(f"PROBLEMS (server log: {log})")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
