"""Faults on real parts: Redis stopped while calls and taps arrive, PostgreSQL restarted under load.

Each test starts a Redis or PostgreSQL of its own on a free port (the shared ones are never
stopped), serves the project with gunicorn (production settings, two sync workers) and stops or
restarts the private service while requests arrive. On failure the servers' log tails are printed.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.utils import timezone

from notifications.models import SmsMessage
from notifications.services import REDRIVE_AFTER
from server.intake.models import CallRecord
from server.workorders.models import Status, WorkOrder, WorkOrderEvent
from tests.integration.seed import seed_city
from tests.integration.services import (
    REPO,
    Answer,
    app_env,
    celery_node,
    celery_ping,
    celery_send,
    celery_worker_on,
    django_database_url,
    http_json,
    tail,
    wait_until,
)

TOKEN = "fault-tests-cti-token"
PASSWORD = "pw-faults-123"


@contextlib.contextmanager
def logs_on_failure(*logs: Path) -> Iterator[None]:
    """Print the tail of every log when the block fails (pytest shows it with the failure)."""
    try:
        yield
    except BaseException:
        for log in logs:
            sys.stdout.write(f"\n----- {log} (tail) -----\n{tail(log, 8000)}\n")
        raise


def call(base_url: str, call_id: str, caller: str) -> Answer:
    return http_json(
        base_url,
        "POST",
        "/webhooks/cti/call",
        {"call_id": call_id, "caller": caller, "called": "4008001234", "reason": "净水器漏水"},
        headers={"X-Fixroute-Token": TOKEN},
    )


def login(base_url: str, username: str) -> str:
    answer = http_json(base_url, "POST", "/api/auth/token", {"username": username, "password": PASSWORD})
    assert answer.status == 200, f"login {username}: {answer}"
    return str(answer.body["token"])


def tap(base_url: str, token: str, order_id: int, action: str) -> tuple[str, Answer]:
    event_id = f"{action}-{order_id}-{uuid.uuid4().hex[:8]}"
    return event_id, http_json(
        base_url,
        "POST",
        "/api/mobile/events",
        {
            "client_event_id": event_id,
            "work_order_id": order_id,
            "action": action,
            "device_time": timezone.now().isoformat(),
        },
        token=token,
    )


def refused(answers: list[tuple[str, Answer]]) -> list[str]:
    return [f"{what}: {answer}" for what, answer in answers if not answer.ok]


# --- A. Redis stopped while calls and taps arrive --------------------------------------------------

CALLS = 16


@pytest.mark.slow  # about a minute: the redrive takes only SMS queued over 30 s ago
@pytest.mark.django_db(transaction=True)
def test_calls_and_taps_while_redis_is_down_are_all_kept_and_every_sms_goes_once(
    real_services, private_redis, gunicorn_server, tmp_path
):
    city = seed_city(technicians=6, customers=CALLS, password=PASSWORD)
    queue = f"fixroute-faults-{uuid.uuid4().hex[:8]}"
    env = app_env(
        database_url=django_database_url(),
        redis_url=private_redis.url(),
        cti_token=TOKEN,
        queue=queue,
        replan_queue=f"{queue}-replan",
    )
    worker_log, web_log = tmp_path / "worker.log", tmp_path / "gunicorn.log"
    with (
        logs_on_failure(web_log, worker_log, private_redis.log),
        celery_worker_on(private_redis.url(), queues=queue, name=queue, env=env, log=worker_log),
    ):
        web = gunicorn_server(env=env, log=web_log)
        tokens = {username: login(web.url, username) for username in city.usernames}

        private_redis.stop()
        with ThreadPoolExecutor(max_workers=8) as pool:
            calls = list(
                pool.map(
                    lambda n: (f"redis-down-{n}", call(web.url, f"redis-down-{n}", city.phones[n])), range(CALLS // 2)
                )
            )
        assert refused(calls) == []
        lists = {
            username: http_json(web.url, "GET", "/api/mobile/jobs", token=token) for username, token in tokens.items()
        }
        assert refused([(f"jobs of {name}", answer) for name, answer in lists.items()]) == []
        # One job per technician: a technician has one job in progress at a time.
        tapped = {
            username: next(job["id"] for job in answer.body["jobs"] if job["status"] == Status.SCHEDULED)
            for username, answer in lists.items()
            if any(job["status"] == Status.SCHEDULED for job in answer.body["jobs"])
        }
        assert tapped, "no technician got a job from the calls"
        taps: list[tuple[str, Answer]] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            more_calls = [
                pool.submit(lambda n: (f"redis-down-{n}", call(web.url, f"redis-down-{n}", city.phones[n])), n)
                for n in range(CALLS // 2, CALLS)
            ]
            on_my_way = [
                pool.submit(tap, web.url, tokens[username], order_id, "on_my_way")
                for username, order_id in tapped.items()
            ]
            calls += [future.result() for future in more_calls]
            taps += [future.result() for future in on_my_way]
        with ThreadPoolExecutor(max_workers=8) as pool:
            taps += list(pool.map(lambda item: tap(web.url, tokens[item[0]], item[1], "arrived"), tapped.items()))

        # Every call and tap answered 2xx while Redis was down, and all of it is in the database.
        assert refused(calls) == []
        assert refused(taps) == []
        records = {record.call_id: record for record in CallRecord.objects.filter(call_id__startswith="redis-down-")}
        assert sorted(records) == sorted(call_id for call_id, _ in calls)
        assert {call_id: record.work_order_id for call_id, record in records.items()} == {
            call_id: answer.body["work_order"]["id"] for call_id, answer in calls
        }
        assert WorkOrder.objects.count() == CALLS
        for event_id, _ in taps:
            assert WorkOrderEvent.objects.filter(client_event_id=event_id).count() == 1, event_id
        assert set(WorkOrder.objects.filter(pk__in=tapped.values()).values_list("status", flat=True)) == {
            Status.ON_SITE
        }
        messages = list(SmsMessage.objects.filter(work_order_id__in=tapped.values()))
        kinds = sorted(message.kind for message in messages)
        # Each tapped order: booked (when its call was promised a window), on my way, arrived.
        assert kinds == sorted(["booked", "on_my_way", "arrived"] * len(tapped))
        assert len({message.idempotency_key for message in messages}) == len(messages)
        messages = list(SmsMessage.objects.all())  # every text of the outage, booked ones of every call too

        # Redis returns on the same port; the worker reconnects; beat's redrive sends what was missed.
        private_redis.start()
        back_at = timezone.now()
        wait_until(
            lambda: celery_ping(private_redis.url(), celery_node(queue)),
            timeout=60,
            what="the worker to reconnect to Redis",
        )
        assert call(web.url, "redis-back", city.phones[0]).ok
        newest = max(message.created_at for message in messages)
        time.sleep(max(0.0, (newest + REDRIVE_AFTER - timezone.now()).total_seconds() + 1.0))
        celery_send(private_redis.url(), "notifications.tasks.sms_redrive", queue=queue)

        def settled() -> bool:
            statuses = set(SmsMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
            return statuses <= {SmsMessage.Status.SENT, SmsMessage.Status.FAILED}

        wait_until(settled, timeout=60, what="the redriven SMS to be sent")
        sent = {
            message.idempotency_key: message for message in SmsMessage.objects.filter(pk__in=[m.pk for m in messages])
        }
        assert {key: message.status for key, message in sent.items()} == dict.fromkeys(sent, SmsMessage.Status.SENT)
        assert all(message.sent_at is not None and message.sent_at >= back_at for message in sent.values())
        # Exactly once at the provider: the console provider logs each message it takes with its id.
        log = worker_log.read_text(errors="replace")
        taken = collections.Counter(re.findall(r"SMS to \+\d+ \((console-[0-9a-f]+)\)", log))
        assert {key: taken[message.provider_message_id] for key, message in sent.items()} == dict.fromkeys(sent, 1)
        assert sum(taken.values()) == len(sent)


# --- B. PostgreSQL restarted under load --------------------------------------------------------------

LOAD_THREADS = 4
DOWN_SECONDS = 2.0  # how long the restart keeps the database away
RETRY_PAUSE = 0.25


def _database_rows(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as connection:
        return list(connection.execute(sql).fetchall())


def test_postgresql_restart_under_load_answers_503_writes_nothing_half_and_recovers(
    private_postgres, private_redis, gunicorn_server, tmp_path
):
    database_url = private_postgres.create_database("fixroute")
    queue = f"fixroute-faults-{uuid.uuid4().hex[:8]}"
    env = app_env(
        database_url=database_url,
        redis_url=private_redis.url(),
        cti_token=TOKEN,
        queue=queue,
        replan_queue=f"{queue}-replan",
    )
    seeded = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.seed",
            "--technicians",
            "6",
            "--customers",
            "800",
            "--password",
            PASSWORD,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    all_phones = json.loads(seeded.stdout.strip().splitlines()[-1])["phones"]
    phones, later = iter(all_phones[3:]), all_phones[:3]
    web_log = tmp_path / "gunicorn.log"
    with logs_on_failure(web_log, private_postgres.log):
        web = gunicorn_server(env=env, log=web_log)
        stop = threading.Event()
        take = threading.Lock()
        sent: list[tuple[str, str, float, Answer]] = []  # call id, caller, when sent, answer

        def caller(thread: int) -> None:
            for n in range(10_000):
                if stop.is_set():
                    return
                with take:
                    phone = next(phones, None)
                if phone is None:
                    return
                call_id = f"pg-{thread}-{n}"
                started = time.monotonic()
                answer = call(web.url, call_id, phone)
                sent.append((call_id, phone, started, answer))
                if not answer.ok:
                    time.sleep(RETRY_PAUSE)  # a phone system waits a little before its next call

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(3.0)
            private_postgres.stop("fast")
            time.sleep(DOWN_SECONDS)
            private_postgres.start()
            back = time.monotonic()
            time.sleep(4.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)

        # Every answer is a success or a 503 with Retry-After: never a 500 or a dropped connection.
        assert [f"{call_id}: {answer}" for call_id, _, _, answer in sent if answer.status not in (200, 201, 503)] == []
        assert [
            call_id for call_id, _, _, answer in sent if answer.status == 503 and not answer.headers.get("retry-after")
        ] == []
        assert any(answer.status == 503 for *_, answer in sent), "no request met the restart: nothing was tested"
        # The same processes serve again once the database is back: no worker was restarted.
        assert [
            f"{call_id}: {answer}" for call_id, _, started, answer in sent if started > back + 1.0 and not answer.ok
        ] == []
        assert web.alive()
        assert len(web.booted_workers()) == 2, web.booted_workers()
        after = [call(web.url, f"pg-after-{n}", phone) for n, phone in enumerate(later)]
        assert [answer.status for answer in after] == [201, 201, 201]

        # A refused call sent again with its call id is recorded once.
        retried = {call_id: call(web.url, call_id, phone) for call_id, phone, _, answer in sent if not answer.ok}
        assert {call_id: answer.status in (200, 201) for call_id, answer in retried.items()} == dict.fromkeys(
            retried, True
        )
        sys.stdout.write(
            f"{len(sent)} calls under load, {sum(a.status == 503 for *_, a in sent)} answered 503; of those "
            f"retried, {sum(a.status == 200 for a in retried.values())} had been recorded already (200)\n"
        )

    # Nothing half-written: each call once with its order, each order with its call and creation event.
    records = _database_rows(
        database_url, "SELECT call_id, count(*), min(work_order_id) FROM intake_callrecord GROUP BY call_id"
    )
    expected = {call_id for call_id, *_ in sent} | {f"pg-after-{n}" for n in range(3)}
    assert {call_id for call_id, *_ in records} == expected
    assert [row for row in records if row[1] != 1 or row[2] is None] == []
    recorded = {call_id: work_order_id for call_id, _, work_order_id in records}
    answered = {call_id: answer for call_id, _, _, answer in sent if answer.ok} | retried
    assert {call_id: recorded[call_id] for call_id in answered} == {
        call_id: answer.body["work_order"]["id"] for call_id, answer in answered.items()
    }
    assert (
        _database_rows(
            database_url,
            "SELECT wo.id FROM workorders_workorder wo WHERE NOT EXISTS "
            "(SELECT 1 FROM intake_callrecord c WHERE c.work_order_id = wo.id)",
        )
        == []
    )
    assert (
        _database_rows(
            database_url,
            "SELECT wo.id FROM workorders_workorder wo WHERE NOT EXISTS "
            "(SELECT 1 FROM workorders_workorderevent e WHERE e.work_order_id = wo.id "
            "AND e.kind = 'created')",
        )
        == []
    )
    assert _database_rows(database_url, "SELECT count(*) FROM workorders_workorder")[0][0] == len(expected)
