"""How fast do status-change texts reach the provider through the outbox and a real Celery worker?

Creates a fresh PostgreSQL database (``--database-url``), starts a real ``celery worker``
(prefork, ``--concurrency`` processes, production settings) on Redis (``--redis-url``) whose real
Twilio gateway sends to a local fake Twilio (``tests/integration/fake_sms_provider.py``, answering
201 at once), then queues ``--messages`` (1,000) SMS with ``notifications.services.sms_queue``, each
in a transaction of its own as a work-order status change does (``--rate`` per second, 0 = as fast
as this process can). Prints the time until every SMS reached the provider, p50/p95/max latency
per message from the commit of its transaction to the provider's receipt, and duplicates (bodies,
each unique, received more than once) and rows not SENT. Writes JSON to ``bench/results/``.

    python bench/sms_throughput.py [--database-url postgres://postgres@127.0.0.1:5432/fixroute_sms]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import default_out, emit, environment, percentile, table, write_json  # noqa: E402
from bench.urgent_api import _prepare_database  # noqa: E402
from tests.integration.fake_sms_provider import FakeTwilio, sms_worker, twilio_env  # noqa: E402
from tests.integration.services import app_env, tail, wait_until  # noqa: E402


def _purge(redis_url: str, queue: str) -> None:
    """Drop this run's queues (anything the stopped worker did not take)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{queue}*"):
            client.delete(key)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fixroute_sms")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (prefork)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages queued per second (0: a burst)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the provider")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    measured_on = environment()

    _prepare_database(args.database_url)
    queue = f"fixroute-sms-bench-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix="fixroute-sms-bench-"))
    with FakeTwilio() as provider, contextlib.ExitStack() as stack:
        env = app_env(
            database_url=args.database_url,
            redis_url=args.redis_url,
            cti_token="sms-bench",
            queue=queue,
            replan_queue=f"{queue}-replan",
            extra={**twilio_env(provider), "SMS_DAILY_CAP": str(args.messages + 10)},
        )
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import transaction

        from notifications import services
        from notifications.models import SmsMessage

        call_command("migrate", verbosity=0)
        stack.callback(_purge, args.redis_url, queue)
        log = logs / "worker.log"
        stack.enter_context(
            sms_worker(
                args.redis_url,
                queues=queue,
                name=queue,
                env=env,
                log=log,
                pool=("--pool", "prefork", "--concurrency", str(args.concurrency), "--prefetch-multiplier", "1"),
            )
        )
        emit(f"Worker up ({args.concurrency} processes); queueing {args.messages} SMS; logs in {logs}")

        committed: dict[str, float] = {}
        started = time.time()
        for n in range(args.messages):
            if args.rate > 0:
                time.sleep(max(0.0, started + n / args.rate - time.time()))
            body = f"[Fixroute] Your technician is on the way, job {n:05d}"
            with transaction.atomic():
                services.sms_queue(
                    to=f"+1415600{n:04d}",
                    body=body,
                    kind=SmsMessage.Kind.ARRIVED,
                    language="en",
                    idempotency_key=f"bench-{queue}-{n}",
                )
            committed[body] = time.time()
        queued_s = time.time() - started
        emit(f"Queued {args.messages} in {queued_s:.2f} s")

        try:
            wait_until(
                lambda: len(provider.accepted) >= args.messages,
                timeout=args.timeout,
                what=f"{args.messages} SMS at the provider (have {len(provider.accepted)})",
                interval=0.1,
            )
        except AssertionError as exc:
            emit(f"{exc}\n{tail(log)}")
        time.sleep(2.0)  # let late duplicates, if any, arrive; and the last rows be recorded
        accepted = list(provider.accepted)
        statuses = collections.Counter(SmsMessage.objects.values_list("status", flat=True))

    bodies = collections.Counter(message.body for message in accepted)
    first_receipt: dict[str, float] = {}
    for message in accepted:
        first_receipt.setdefault(message.body, message.received)
    latencies = [(first_receipt[body] - at) * 1000.0 for body, at in committed.items() if body in first_receipt]
    last = max(first_receipt.values(), default=started)
    result: dict[str, Any] = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "rate_per_s": args.rate or None,
        "queued_s": queued_s,
        "all_at_provider_s": last - started,
        "reached_provider": len(first_receipt),
        "lost": args.messages - len(first_receipt),
        "duplicates": sum(count - 1 for count in bodies.values()),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies, default=float("nan")),
        "throughput_per_s": len(first_receipt) / (last - started) if last > started else float("nan"),
        "rows_by_status": dict(statuses),
    }
    emit(
        table(
            [result],
            [
                "messages",
                "concurrency",
                "queued_s",
                "all_at_provider_s",
                "throughput_per_s",
                "p50_ms",
                "p95_ms",
                "max_ms",
                "duplicates",
                "lost",
            ],
        )
    )
    emit(f"Rows by status: {dict(statuses)}")
    out = args.out or default_out("sms_throughput")
    write_json(out, {"environment": measured_on, "args": vars(args) | {"out": str(out)}, "result": result})
    emit(f"Wrote {out}")
    if result["duplicates"] or result["lost"] or statuses.get(SmsMessage.Status.SENT, 0) != args.messages:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
