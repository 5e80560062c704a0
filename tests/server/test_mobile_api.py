"""The technician app's API: log in, today's jobs, and taps that reach the customer as SMS."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from dispatch.model import Location
from notifications.gateways import memory
from notifications.models import SmsMessage
from server.common.travel import travel_minutes
from server.workorders.models import Status, WorkOrder, WorkOrderEvent
from server.workorders.services import eta_window, work_order_eta_minutes
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(settings):
    """Two technicians, an order dispatched to the first, and the first's token."""
    zhang = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)
    li = factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    customer = factories.customer()
    from server.intake.services import work_order_create_and_dispatch

    order = work_order_create_and_dispatch(
        customer=customer,
        site=customer.sites.get(),
        equipment=customer.sites.get().equipment.get(),
        problem="漏水",
        required_skill=factories.skill("water_purifier"),
    )
    assert order.technician == zhang
    return {"zhang": zhang, "li": li, "order": order, "customer": customer}


def login(client, username, password="pw-123456"):
    response = client.post(
        "/api/auth/token", {"username": username, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def tap(client, token, order_id, action, *, event_id=None, lat=31.2400, lon=121.4700):
    body = {
        "client_event_id": event_id or uuid.uuid4().hex,
        "work_order_id": order_id,
        "action": action,
        "device_time": timezone.now().isoformat(),
        "latitude": lat,
        "longitude": lon,
    }
    return client.post(
        "/api/mobile/events",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",  # the refusals' words (test_mobile_refusals.py has them in Chinese)
    )


def test_login_returns_a_token_and_the_technician(client, day):
    body = login(client, "zhang")
    assert body["technician"] == {"id": day["zhang"].pk, "name": "张伟"}
    wrong = client.post("/api/auth/token", {"username": "zhang", "password": "nope"}, content_type="application/json")
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.json()["message"]


def test_jobs_need_a_token(client, day):
    assert client.get("/api/mobile/jobs").status_code == 401
    assert client.get("/api/mobile/jobs", HTTP_AUTHORIZATION="Bearer forged").status_code == 401


def test_todays_jobs_in_route_order_with_details(client, day):
    token = login(client, "zhang")["token"]
    body = client.get("/api/mobile/jobs", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [job["id"] for job in body["jobs"]] == [day["order"].pk]
    job = body["jobs"][0]
    assert job["status"] == "scheduled"
    assert job["allowed_actions"] == ["on_my_way", "arrived"]
    assert job["customer_phone"] == "+8613800138001"
    assert job["equipment"]["model"] == "RO-500"
    assert job["planned_arrival"] is not None
    assert any(entry["kind"] == "created" for entry in job["history"])
    # The technician sees neither the dispatcher's reasoning nor stale planned times.
    assert not any(entry["text"].startswith("Why:") for entry in job["history"])
    assert not any(entry["kind"] == "assigned" or "arriving" in entry["text"] for entry in job["history"])
    other = client.get("/api/mobile/jobs", HTTP_AUTHORIZATION=f"Bearer {login(client, 'li')['token']}").json()
    assert other["jobs"] == []


def test_on_my_way_sends_one_sms_with_the_eta_from_the_technicians_position(
    client, day, django_capture_on_commit_callbacks
):
    token = login(client, "zhang")["token"]
    with django_capture_on_commit_callbacks(execute=True):
        response = tap(client, token, day["order"].pk, "on_my_way", lat=31.2600, lon=121.4900)
    assert response.status_code == 200, response.content
    assert response.json()["job"]["status"] == "en_route"
    assert response.json()["job"]["allowed_actions"] == ["arrived", "could_not_complete"]
    site = day["customer"].sites.get()
    eta = travel_minutes(Location(31.2600, 121.4900), Location(site.latitude, site.longitude), at=timezone.now())
    start, end = eta_window(timezone.now() + dt.timedelta(minutes=eta), travel=eta)
    message = SmsMessage.objects.get(kind="on_my_way")
    assert message.to == "+8613800138001"
    assert message.body.startswith(f"【品牌】张师傅已出发，预计{start:%H:%M}至{end:%H:%M}到达。")
    assert message.status == SmsMessage.Status.SENT
    assert [sent.body for sent in memory.sent][-1] == message.body


def test_english_customers_get_english(client, day, settings):
    settings.SMS_SIGNATURE = "Brand"  # an English text is GSM-7: a Chinese signature makes it too long
    day["customer"].language = "en"
    day["customer"].save()
    token = login(client, "zhang")["token"]
    tap(client, token, day["order"].pk, "on_my_way")
    body = SmsMessage.objects.get(kind="on_my_way").body
    assert "on the way" in body
    assert "should arrive between" in body


def test_a_repeated_tap_is_one_event_and_one_sms(client, day):
    token = login(client, "zhang")["token"]
    event_id = uuid.uuid4().hex
    first = tap(client, token, day["order"].pk, "on_my_way", event_id=event_id)
    second = tap(client, token, day["order"].pk, "on_my_way", event_id=event_id)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert WorkOrderEvent.objects.filter(client_event_id=event_id).count() == 1
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1


def test_arrived_and_done_send_their_own_texts_and_keep_device_time(client, day):
    token = login(client, "zhang")["token"]
    for action in ("on_my_way", "arrived", "done"):
        assert tap(client, token, day["order"].pk, action).status_code == 200
    order = WorkOrder.objects.get(pk=day["order"].pk)
    assert order.status == Status.COMPLETED
    kinds = list(SmsMessage.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["booked", "on_my_way", "arrived", "completed"]
    event = order.events.filter(to_status=Status.ON_SITE).get()
    assert event.device_time is not None
    assert event.actor_label == "张伟"


def test_could_not_complete_answers_with_the_job_and_its_resend_is_a_duplicate(client, day):
    """The tap takes the order off the technician's route; it was still their tap to make and to resend."""
    token = login(client, "zhang")["token"]
    assert tap(client, token, day["order"].pk, "on_my_way").status_code == 200
    event_id = uuid.uuid4().hex
    body = {
        "client_event_id": event_id,
        "work_order_id": day["order"].pk,
        "action": "could_not_complete",
        "reason": "no_access",
        "device_time": timezone.now().isoformat(),
    }
    answers = [
        client.post("/api/mobile/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].content
    assert [answer.json()["duplicate"] for answer in answers] == [False, True]
    assert answers[0].json()["job"]["status"] == "on_hold"
    assert WorkOrder.objects.get(pk=day["order"].pk).technician is None
    other = tap(client, login(client, "li")["token"], day["order"].pk, "on_my_way", event_id=event_id)
    assert other.status_code == 404


def test_a_tap_on_another_technicians_order_is_refused_and_changes_nothing(client, day):
    """Another technician's order answers exactly like one that does not exist: ids stay secret."""
    token = login(client, "li")["token"]
    response = tap(client, token, day["order"].pk, "on_my_way")
    missing = tap(client, token, 999999, "on_my_way")
    assert response.status_code == missing.status_code == 404
    assert response.json() == {
        **missing.json(),
        "message": f"Work order {day['order'].pk} does not exist",
        "extra": {"work_order_id": day["order"].pk},
    }
    assert missing.json()["message"] == "Work order 999999 does not exist"
    order = WorkOrder.objects.get(pk=day["order"].pk)
    assert order.status == Status.SCHEDULED
    assert SmsMessage.objects.exclude(kind="booked").count() == 0
    day["li"].refresh_from_db()
    assert day["li"].last_located_at is None


def test_an_impossible_tap_is_a_conflict(client, day):
    token = login(client, "zhang")["token"]
    response = tap(client, token, day["order"].pk, "done")
    assert response.status_code == 409
    assert "cannot become" in response.json()["message"]
    assert WorkOrder.objects.get(pk=day["order"].pk).status == Status.SCHEDULED


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"action": "fly"}, 422),
        ({"device_time": "yesterday"}, 422),
        ({"device_time": "2026-11-22T10:00:00"}, 422),
        ({"latitude": 123.0}, 422),
        ({"work_order_id": 999999}, 404),
    ],
)
def test_bad_taps_get_clear_errors(client, day, change, status):
    token = login(client, "zhang")["token"]
    body = {
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": day["order"].pk,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
        **change,
    }
    response = client.post(
        "/api/mobile/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == status
    assert response.json()["message"]
    assert WorkOrder.objects.get(pk=day["order"].pk).status == Status.SCHEDULED


def test_eta_falls_back_to_home_when_the_position_is_stale(day):
    zhang = day["zhang"]
    zhang.last_latitude, zhang.last_longitude = 31.40, 121.70
    zhang.last_located_at = timezone.now() - dt.timedelta(hours=5)
    zhang.save()
    order = WorkOrder.objects.select_related("site", "technician").get(pk=day["order"].pk)
    site = order.site
    home = travel_minutes(
        Location(zhang.home_latitude, zhang.home_longitude), Location(site.latitude, site.longitude), at=timezone.now()
    )
    assert work_order_eta_minutes(order, now=timezone.now()) == home
