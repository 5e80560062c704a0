"""List endpoints answer in a fixed number of queries however many rows they list (no N+1).

Each test fills a day with N orders (a customer, site and equipment each, a technician, the
created/assigned/note events, an earlier order at the same site), counts the queries of the
list, adds 2N more orders of the same shape and counts again: the counts must be equal. A
warm-up request first keeps one-time work (the session, the login) out of both counts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from server.technicians.models import Technician
from server.workorders import services
from server.workorders.models import WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

N = 3


def _orders(count: int, *, technician: Technician, day: dt.date) -> list[WorkOrder]:
    """``count`` orders scheduled for ``technician`` on ``day``, each at its own site with an
    earlier, unassigned order there (the site's history)."""
    first = technician.work_orders.count()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time(8, 0)))
    orders = []
    for i in range(first, first + count):
        customer = factories.customer(name=f"客户{i}", phone=f"+86139{i:08d}", address=f"上海市测试路{i}号")
        site = customer.sites.get()
        services.work_order_create(customer=customer, site=site, problem=f"去年的单 {i}")
        order = services.work_order_create(
            customer=customer,
            site=site,
            equipment=site.equipment.get(),
            problem=f"净水器漏水 {i}",
            required_skill=factories.skill("water_purifier"),
        )
        services.work_order_assign(
            work_order_id=order.pk,
            technician=technician,
            day=day,
            planned_arrival=start + dt.timedelta(minutes=50 * i),
            route_position=i,
        )
        services.work_order_note(work_order=order, text=f"客户说明 {i}", actor_label="staff")
        orders.append(order)
    return orders


def _count_queries(client, url: str) -> tuple[int, Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), response.json(), [query["sql"] for query in queries.captured_queries]


def _shape(sql: str) -> str:
    """The statement with its literals taken out, to compare the shapes of queries."""
    sql = re.sub(r"^SELECT .*? FROM ", "SELECT ... FROM ", sql)
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"\(\?(, \?)*\)", "(...)", sql)


def _grown(few: list[str], many: list[str]) -> str:
    """The statements the bigger list ran more often than the small one: the N+1 suspects."""
    grown = Counter(_shape(sql) for sql in many) - Counter(_shape(sql) for sql in few)
    return "\n".join(f"{times} more x {shape[:300]}" for shape, times in grown.most_common())


def _list_twice(client, url: str, *, technician: Technician, day: dt.date) -> tuple[Any, Any]:
    """The list's answers for N and then 3N orders; fails unless both cost the same queries."""
    client.get(url)
    _orders(N, technician=technician, day=day)
    few, small, few_sql = _count_queries(client, url)
    _orders(2 * N, technician=technician, day=day)
    many, big, many_sql = _count_queries(client, url)
    assert many == few, f"{few} queries for {N} orders, {many} for {3 * N}:\n{_grown(few_sql, many_sql)}"
    return small, big


@pytest.fixture
def technician():
    return factories.technician(name="张伟", username="zhang")


@pytest.fixture
def staff_client(client):
    client.force_login(factories.staff(username="agent"))
    return client


def test_the_staff_work_order_list_costs_the_same_queries_for_three_times_the_orders(staff_client, technician):
    small, big = _list_twice(staff_client, "/api/work-orders", technician=technician, day=timezone.localdate())
    # Each order comes with an earlier one at its site: both are listed.
    assert (len(small), len(big)) == (2 * N, 2 * 3 * N)
    assert all(order["events"] for order in big)
    assert {order["technician_name"] for order in big} == {"张伟", None}


def test_the_staff_list_of_a_day_costs_the_same_queries_for_three_times_the_orders(staff_client, technician):
    day = timezone.localdate()
    url = f"/api/work-orders?day={day.isoformat()}&status=scheduled"
    small, big = _list_twice(staff_client, url, technician=technician, day=day)
    assert (len(small), len(big)) == (N, 3 * N)
    assert all(order["events"] and order["customer_name"] and order["address"] for order in big)


def test_the_technicians_day_costs_the_same_queries_for_three_times_the_jobs(client, technician):
    day = timezone.localdate()
    client.force_login(technician.user)
    small, big = _list_twice(client, f"/api/mobile/jobs?day={day.isoformat()}", technician=technician, day=day)
    assert (len(small["jobs"]), len(big["jobs"])) == (N, 3 * N)
    for job in big["jobs"]:
        assert job["equipment"]["model"] == "RO-500"
        assert {"created", "note"} <= {item["kind"] for item in job["history"]}
        assert job["site_visits"]  # the earlier orders at the site, each with its resolution
