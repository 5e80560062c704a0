"""Staff log a repair by hand (API and admin) and manage work orders."""

import pytest

from server.customers.models import Customer, Site
from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    factories.technician(name="张伟", lat=31.2300, lon=121.4600)
    client.force_login(factories.staff())
    return client


def post(client, body):
    return client.post("/api/work-orders", body, content_type="application/json")


def test_staff_log_a_repair_for_a_new_customer_and_it_is_dispatched(staff_client):
    response = post(
        staff_client,
        {
            "phone": "139 1234 5678",
            "customer_name": "钱七",
            "address": "上海市黄浦区人民大道200号",
            "latitude": 31.2304,
            "longitude": 121.4737,
            "problem": "净水器不出水",
            "required_skill": "water_purifier",
            "priority": "high",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["technician_name"] == "张伟"
    assert body["customer_phone"] == "+8613912345678"
    assert body["explanation"]["chosen"] == "张伟"
    assert [event["kind"] for event in body["events"]][:2] == ["created", "assigned"]
    assert body["events"][0]["actor"].startswith("user")


def test_an_existing_customer_is_found_by_phone(staff_client):
    customer = factories.customer()
    response = post(staff_client, {"phone": "13800138001", "problem": "again"})
    assert response.status_code == 201
    assert response.json()["customer_id"] == customer.pk
    assert response.json()["site_id"] == customer.sites.get().pk


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"phone": "12", "customer_name": "x", "problem": "p"}, "not a valid phone number"),
        ({"phone": "13912345678", "problem": "p"}, "A new customer needs a name"),
        ({"customer_id": 9999, "problem": "p"}, "Customer 9999 does not exist"),
        ({"phone": "13912345678", "customer_name": "x", "problem": "p", "required_skill": "gas"}, "Unknown skill"),
        ({"phone": "13912345678", "customer_name": "x", "problem": "p", "priority": "asap"}, "Unknown priority"),
        (
            {"phone": "13912345678", "customer_name": "x", "problem": "p", "address": "a", "latitude": 31.2},
            "both latitude and longitude",
        ),
        ({"phone": "13912345678", "customer_name": "x", "problem": ""}, "problem"),
        ({"problem": "p"}, "Give customer_id or phone"),
        (
            {
                "phone": "13912345678",
                "customer_name": "x",
                "problem": "p",
                "window_start": "2026-11-23T14:00:00+08:00",
                "window_end": "2026-11-23T12:00:00+08:00",
            },
            "window must end after it starts",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_and_creates_nothing(staff_client, body, message):
    response = post(staff_client, body)
    assert response.status_code == 422, response.content
    assert message in response.json()["message"]
    assert WorkOrder.objects.count() == 0
    assert Customer.objects.count() == 0
    assert Site.objects.count() == 0


def test_technicians_cannot_log_repairs_or_list_all_orders(client):
    technician = factories.technician()
    client.force_login(technician.user)
    assert post(client, {"phone": "13912345678", "customer_name": "x", "problem": "p"}).status_code == 403
    assert client.get("/api/work-orders").status_code == 403


def test_staff_transition_goes_through_the_state_machine(staff_client):
    customer = factories.customer()
    order_id = post(staff_client, {"customer_id": customer.pk, "problem": "p"}).json()["id"]
    bad = staff_client.post(
        f"/api/work-orders/{order_id}/transition", {"to_status": "completed"}, content_type="application/json"
    )
    assert bad.status_code == 409
    unknown = staff_client.post(
        f"/api/work-orders/{order_id}/transition", {"to_status": "exploded"}, content_type="application/json"
    )
    assert unknown.status_code == 422
    ok = staff_client.post(
        f"/api/work-orders/{order_id}/transition",
        {"to_status": "cancelled", "note": "dup"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "cancelled"
    assert ok.json()["technician_id"] is None
    assert WorkOrder.objects.get(pk=order_id).status == Status.CANCELLED


def test_admin_add_creates_and_dispatches_through_the_service(client):
    factories.technician(name="张伟", lat=31.2300, lon=121.4600)
    admin = factories.staff()
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    customer = factories.customer()
    site = customer.sites.get()
    response = client.post(
        "/admin/workorders/workorder/add/",
        {
            "customer": customer.pk,
            "site": site.pk,
            "problem": "leak",
            "priority": "normal",
            "required_skill": factories.skill("water_purifier").pk,
            "service_minutes": 60,
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    order = WorkOrder.objects.get()
    assert order.status == Status.SCHEDULED
    assert order.technician.name == "张伟"
    assert order.events.filter(kind="created").exists()
    page = client.get(f"/admin/workorders/workorder/{order.pk}/change/")
    assert page.status_code == 200
    assert "张伟".encode() in page.content
