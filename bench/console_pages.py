"""Server time of the staff console's pages on a large database (PostgreSQL).

Seeds ``--customers`` customers (default 100,000), each with a site and a piece of equipment, two
orders each and ``--events`` events in all (default 1,000,000), plus one call per customer, with
SQL ``generate_series`` (seconds, not hours), then asks each console page ``--repeat`` times as a
signed-in agent through Django's test client in this process (URL routing, middleware, the view,
the queries, the template) and prints p50/p95/max per page. Goal (issue 10): p95 < 200 ms.

    python bench/console_pages.py [--database-url postgres://postgres@127.0.0.1:5432/fixroute_cbench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import default_out, emit, environment, percentile, table, write_json  # noqa: E402
from bench.urgent_api import _prepare_database  # noqa: E402

SEED_SQL = """
INSERT INTO customers_customer (id, created_at, updated_at, name, phone, language, notes, needs_review,
    consent_service_sms, consent_reminders, consent_marketing, complaint_open, complaint_reason)
SELECT i, now() - (i % 900) * interval '1 day', now(), '客户' || i, '+86139' || lpad(i::text, 8, '0'),
    CASE WHEN i % 5 = 0 THEN 'en' ELSE 'zh-CN' END, '', false, true, i % 3 = 0, false, i % 97 = 0,
    CASE WHEN i % 97 = 0 THEN '投诉' ELSE '' END
FROM generate_series(1, %(customers)s) AS i;

INSERT INTO customers_site (id, created_at, updated_at, customer_id, address, latitude, longitude,
    location_source, needs_review, access_notes, is_primary)
SELECT i, now(), now(), i, '上海市静安区南京西路' || i || '号', 31.0 + (i % 1000) / 2000.0,
    121.2 + (i % 997) / 2000.0, 'typed', false, '', true
FROM generate_series(1, %(customers)s) AS i;

INSERT INTO customers_equipment (id, created_at, updated_at, site_id, equipment_type, model, serial_number,
    install_date)
SELECT i, now(), now(), i, 'water_purifier', 'RO-500', 'SN' || i, date '2024-01-01' + (i % 700)
FROM generate_series(1, %(customers)s) AS i;

INSERT INTO workorders_workorder (id, created_at, updated_at, customer_id, site_id, equipment_id, problem,
    priority, service_minutes, status, source, needs_review, complaint, assignment_explanation, hold_reason,
    pinned, promise_at_risk, promise_risk_reason, version)
SELECT o, now() - (o % 900) * interval '1 day', now(), (o + 1) / 2, (o + 1) / 2, (o + 1) / 2,
    '净水器漏水 ' || o, 'normal', 60, CASE WHEN o % 2 = 0 THEN 'completed' ELSE 'new' END, 'phone',
    false, false, '{}', '', false, false, '', 0
FROM generate_series(1, 2 * %(customers)s) AS o;

INSERT INTO workorders_workorderevent (kind, from_status, to_status, actor_label, text, data, created_at,
    work_order_id)
SELECT 'note', '', '', 'bench', 'event ' || e, '{}', now() - (e % 900) * interval '1 day',
    1 + (e % (2 * %(customers)s))
FROM generate_series(1, %(events)s) AS e;

INSERT INTO intake_callrecord (created_at, updated_at, provider, call_id, caller_raw, caller_phone,
    called_number, call_status, ivr_digits, reason, outcome, payload, customer_id, work_order_id)
SELECT now() - (i % 900) * interval '1 day', now(), 'cti', 'bench-' || i, '139' || lpad(i::text, 8, '0'),
    '+86139' || lpad(i::text, 8, '0'), '4008001234', '', '', '净水器漏水', 'created', '{}', i, 2 * i - 1
FROM generate_series(1, %(customers)s) AS i;
"""

SEQUENCES = ("customers_customer", "customers_site", "customers_equipment", "workorders_workorder")

# Console pages asked, as (name, path); ``{customer}`` and ``{order}`` are filled per request.
PAGES = [
    ("home", "/"),
    ("screen-pop check (nothing new)", "/calls/pop/?after=10000000"),
    ("screen-pop (a new call)", "/calls/pop/?after={call_before}"),
    ("work orders", "/work-orders/"),
    ("work orders: search WO", "/work-orders/?q=WO-{order:06d}"),
    ("work orders: search phone", "/work-orders/?q=139{customer:08d}"),
    ("work orders: search name", "/work-orders/?q=客户{customer}"),
    ("work orders: search address", "/work-orders/?q=南京西路{customer}号"),
    ("work orders: complaint filter", "/work-orders/?complaint=on"),
    ("work order", "/work-orders/{order}/"),
    ("customer 360", "/customers/{customer}/"),
    ("repair: find customer", "/repair/search/?q=139{customer:08d}"),
]


def _seed(url: str, *, customers: int, events: int) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED_SQL.replace("%(customers)s", str(customers)).replace("%(events)s", str(events)))
        for name in SEQUENCES:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/fixroute_cbench")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    _prepare_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": args.database_url, "DJANGO_SETTINGS_MODULE": "server.config.settings.test"}
    subprocess.run([sys.executable, "server/manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    seconds = _seed(args.database_url, customers=args.customers, events=args.events)
    emit(f"Seeded {args.customers} customers, {2 * args.customers} orders, {args.events} events in {seconds:.1f} s")

    os.environ.update({"DATABASE_URL": args.database_url, "DJANGO_SETTINGS_MODULE": "server.config.settings.test"})
    import django

    django.setup()
    from django.test import Client

    from server.accounts.models import Role
    from tests import factories

    agent = factories.user(username="bench-agent", role=Role.AGENT)
    client = Client()
    client.force_login(agent)
    rows = []
    for name, path in PAGES:
        timings, status = [], 200
        for n in range(args.repeat):
            customer = 1 + (n * 7919) % args.customers
            url = path.format(customer=customer, order=2 * customer - 1, call_before=args.customers - 1)
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 204):
                status = response.status_code
                emit(f"{name}: {url} answered {status}")
                break
        rows.append(
            {
                "page": name,
                "status": status,
                "requests": len(timings),
                "p50_ms": round(statistics.median(timings), 1),
                "p95_ms": round(percentile(timings, 95), 1),
                "max_ms": round(max(timings), 1),
            }
        )
    emit(table(rows, ["page", "status", "requests", "p50_ms", "p95_ms", "max_ms"]))
    write_json(
        args.out or default_out("console_pages"),
        {
            "environment": environment(),
            "customers": args.customers,
            "events": args.events,
            "pages": rows,
        },
    )
    return 0 if all(row["status"] == 200 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
