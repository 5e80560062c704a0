"""Staff change orders only through the services: assign by hand, pin, reschedule, hold, release,
cancel; each writes an event, and the admin cannot change planning behind their back."""

import datetime as dt

import pytest
from django.utils import timezone

from server.scheduling import services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_promises import dispatched, order_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew():
    return {
        "zhang": factories.technician(name="张伟", lat=31.23, lon=121.47),
        "wang": factories.technician(name="王磊", lat=31.30, lon=121.60),
        "liu": factories.technician(name="刘洋", lat=31.24, lon=121.48, skills=("hvac",)),
    }


@pytest.fixture
def staff_client(client):
    client.force_login(factories.staff())
    return client


def post(client, path, body=None):
    return client.post(f"/api/work-orders/{path}", body or {}, content_type="application/json")


def test_assign_by_hand_pins_the_order_and_the_replan_keeps_it(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139601")
    assert order.technician == crew["zhang"]  # the nearest
    response = post(staff_client, f"{order.pk}/assign", {"technician_id": crew["wang"].pk})
    assert response.status_code == 200, response.content
    body = response.json()["work_order"]
    assert body["technician_id"] == crew["wang"].pk
    assert body["pinned"]
    assert body["status"] == "scheduled"
    services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    assert order.technician == crew["wang"]  # the nearer 张伟 would be cheaper; the pin holds
    assert WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.PINNED).exists()


def test_assign_by_hand_names_the_orders_it_makes_late(staff_client, crew):
    first = dispatched(31.235, 121.475, phone="+8613800139602")
    start = timezone.localtime(first.planned_arrival)
    # Give 王磊 the first order, then push a long job in front of it at the same start.
    post(staff_client, f"{first.pk}/assign", {"technician_id": crew["wang"].pk})
    first.refresh_from_db()
    long_job = order_at(31.30, 121.60, phone="+8613800139603")
    WorkOrder.objects.filter(pk=long_job.pk).update(service_minutes=240)
    response = post(
        staff_client, f"{long_job.pk}/assign", {"technician_id": crew["wang"].pk, "start": timezone.now().isoformat()}
    )
    assert response.status_code == 200, response.content
    late = response.json()["consequences"]
    assert [row["work_order_id"] for row in late] == [first.pk]
    assert late[0]["late_minutes"] > 0
    assert start  # the first order had a time before


def test_assign_by_hand_is_refused_with_the_reason_and_changes_nothing(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139604")
    before = WorkOrder.objects.get(pk=order.pk)
    events = WorkOrderEvent.objects.filter(work_order=order).count()
    response = post(staff_client, f"{order.pk}/assign", {"technician_id": crew["liu"].pk})
    assert response.status_code == 422
    assert "lacks the skill" in response.json()["message"]
    after = WorkOrder.objects.get(pk=order.pk)
    assert (after.technician_id, after.status, after.version) == (before.technician_id, before.status, before.version)
    assert WorkOrderEvent.objects.filter(work_order=order).count() == events
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    response = post(staff_client, f"{order.pk}/assign", {"technician_id": crew["wang"].pk, "start": past})
    assert response.status_code == 422
    assert "past" in response.json()["message"]
    assert WorkOrder.objects.get(pk=order.pk).technician_id == before.technician_id


def test_hold_and_release_take_an_order_out_of_planning_and_back(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139605")
    response = post(staff_client, f"{order.pk}/hold", {"reason": "waiting for the part", "follow_up_on": "2030-01-02"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "on_hold"
    assert body["technician_id"] is None
    assert body["hold_reason"] == "waiting for the part"
    assert body["follow_up_on"] == "2030-01-02"
    assert post(staff_client, f"{order.pk}/hold", {"reason": ""}).status_code == 422
    response = post(staff_client, f"{order.pk}/release")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["technician_id"] == crew["zhang"].pk
    assert body["hold_reason"] == ""
    assert body["promised_start"] is not None


def test_an_on_hold_order_can_be_assigned_by_hand(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139606")
    post(staff_client, f"{order.pk}/hold", {"reason": "customer away"})
    response = post(staff_client, f"{order.pk}/assign", {"technician_id": crew["zhang"].pk})
    assert response.status_code == 200, response.content
    assert response.json()["work_order"]["status"] == "scheduled"


def test_reschedule_makes_the_new_window_the_promise_with_the_reason(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139607")
    start = (timezone.now() + dt.timedelta(hours=5)).replace(second=0, microsecond=0)
    response = post(
        staff_client,
        f"{order.pk}/reschedule",
        {
            "window_start": start.isoformat(),
            "window_end": (start + dt.timedelta(hours=2)).isoformat(),
            "reason": "customer asked for the afternoon",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert dt.datetime.fromisoformat(body["promised_start"]) == start
    assert start <= dt.datetime.fromisoformat(body["planned_arrival"]) <= start + dt.timedelta(hours=2)
    event = WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.PROMISE, data__outcome="rescheduled").get()
    assert "customer asked for the afternoon" in event.text


def test_cancel_needs_a_reason_and_withdraws_the_promise(staff_client, crew):
    order = dispatched(31.235, 121.475, phone="+8613800139608")
    assert post(staff_client, f"{order.pk}/cancel", {}).status_code == 422
    response = post(staff_client, f"{order.pk}/cancel", {"reason": "duplicate order"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert WorkOrderEvent.objects.filter(
        work_order=order, kind=EventKind.PROMISE, data__outcome="promise_withdrawn"
    ).exists()
    assert post(staff_client, f"{order.pk}/release").status_code == 409


def test_the_admin_shows_planning_read_only_and_acts_through_the_services(client, crew):
    admin_user = factories.user(username="root")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    order = dispatched(31.235, 121.475, phone="+8613800139609")
    before = WorkOrder.objects.get(pk=order.pk)
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%d")
    client.post(
        f"/admin/workorders/workorder/{order.pk}/change/",
        {
            "problem": "leak, edited",
            "priority": "urgent",
            "window_start_0": later,
            "window_start_1": "10:00",
            "window_end_0": later,
            "window_end_1": "12:00",
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )
    after = WorkOrder.objects.get(pk=order.pk)
    assert after.problem == "leak, edited"
    assert (after.priority, after.window_start, after.status) == (before.priority, None, Status.SCHEDULED)
    client.post("/admin/workorders/workorder/", {"action": "hold_orders", "_selected_action": [order.pk]})
    after = WorkOrder.objects.get(pk=order.pk)
    assert after.status == Status.ON_HOLD
    assert "in the admin" in after.hold_reason
