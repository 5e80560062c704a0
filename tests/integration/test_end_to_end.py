"""The whole path on real parts: a Twilio-signed call on PostgreSQL → an order for the nearest
technician → the Kivy app (real offscreen window) taps "On my way" → a real Celery worker on Redis
sends the SMS, whose ETA is the travel time from where the phone says the technician is."""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
import urllib.request

import pytest
from django.conf import settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from dispatch.model import Location
from mobile.services import outbox as outbox_module
from mobile.services.api_client import ApiClient
from mobile.services.location import FixedLocation
from notifications.models import SmsMessage
from server.common.travel import travel_minutes
from server.intake.models import CallRecord
from server.workorders.models import Status, WorkOrder, WorkOrderEvent
from tests import factories
from tests.netswitch import Relay

pytestmark = [pytest.mark.ui, pytest.mark.django_db(transaction=True)]

TOKEN = "integration-twilio-token"
PHONE_AT = (31.2500, 121.4800)  # where the technician's phone reports it is when tapping


@pytest.fixture
def city(settings, celery_worker_process):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.SMS_SIGNATURE = "品牌"
    settings.SMS_PROVIDER = "console"
    near = factories.technician(name="张伟", username="zhang", password="pw-123456", lat=31.2300, lon=121.4600)
    factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    factories.technician(name="刘洋", username="liu", lat=31.2291, lon=121.4561, skills=("hvac",))
    customer = factories.customer()
    return {"near": near, "customer": customer}


def ring(live_server, call_sid: str) -> tuple[int, bytes]:
    url = live_server.url + "/webhooks/twilio/voice"
    params = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+8613800138001",
        "To": "+14155550100",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        method="POST",
        headers={
            "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def expected_eta(customer) -> int:
    site = customer.sites.get()
    return travel_minutes(Location(*PHONE_AT), Location(site.latitude, site.longitude), at=timezone.now())


def test_call_to_sms_on_real_services(city, live_server, technician_app, celery_worker_process):
    assert "postgresql" in settings.DATABASES["default"]["ENGINE"]
    status, twiml = ring(live_server, "CA" + "a" * 32)
    assert status == 200
    assert b"<Say" in twiml
    order = WorkOrder.objects.get()
    assert order.status == Status.SCHEDULED
    assert order.technician == city["near"]

    phone = technician_app(live_server.url, location=FixedLocation(*PHONE_AT))
    phone.login("zhang", "pw-123456")
    jobs = phone.wait_for_jobs()
    assert [job["id"] for job in jobs] == [order.pk]
    phone.open_job(0)
    phone.tap_action("on_my_way")
    phone.wait_synced(timeout=30)
    assert phone.detail.status == "en_route"

    message = wait_for(
        lambda: SmsMessage.objects.filter(kind="on_my_way", status=SmsMessage.Status.SENT).first(),
        what="the worker to send the SMS",
    )
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1
    assert message.to == "+8613800138001"
    assert message.customer_id == city["customer"].pk
    told = WorkOrderEvent.objects.get(work_order=order, kind="sms", data__sms_kind="on_my_way").data
    assert told["eta_minutes"] == expected_eta(city["customer"])
    start, end = (timezone.localtime(dt.datetime.fromisoformat(told[key])) for key in ("window_start", "window_end"))
    assert message.body.startswith(f"【品牌】张师傅已出发，预计{start:%H:%M}至{end:%H:%M}到达。")
    assert message.provider == "console"
    assert message.provider_message_id
    log = celery_worker_process["log"].read_text()
    assert "notifications.tasks.sms_send" in log


def test_the_same_call_and_the_same_tap_twice(city, live_server, technician_app, celery_worker_process):
    call_sid = "CA" + "b" * 32
    assert ring(live_server, call_sid)[0] == 200
    assert ring(live_server, call_sid)[0] == 200
    assert WorkOrder.objects.count() == 1
    assert CallRecord.objects.count() == 1
    order = WorkOrder.objects.get()

    phone = technician_app(live_server.url, location=FixedLocation(*PHONE_AT))
    phone.login("zhang", "pw-123456")
    phone.wait_for_jobs()
    phone.open_job(0)
    phone.tap_action("on_my_way")
    phone.wait_synced(timeout=30)
    event = WorkOrderEvent.objects.get(work_order=order, to_status=Status.EN_ROUTE)

    # The phone lost the answer and sends the same tap again: same client id, same event.
    client = ApiClient(live_server.url)
    client.token = client.login(username="zhang", password="pw-123456")["token"]
    again = client.send_event(
        {
            "client_event_id": event.client_event_id,
            "work_order_id": order.pk,
            "action": "on_my_way",
            "device_time": event.device_time.isoformat(),
            "latitude": PHONE_AT[0],
            "longitude": PHONE_AT[1],
        }
    )
    assert again["duplicate"] is True
    wait_for(
        lambda: SmsMessage.objects.filter(kind="on_my_way", status=SmsMessage.Status.SENT).exists(),
        what="the first SMS",
    )
    time.sleep(1.0)  # give a wrongly queued second SMS the chance to show up
    assert WorkOrderEvent.objects.filter(client_event_id=event.client_event_id).count() == 1
    assert SmsMessage.objects.filter(kind="on_my_way").count() == 1


def test_a_morning_offline_synced_in_a_batch_on_real_services(
    city, live_server, technician_app, celery_worker_process, monkeypatch
):
    """The phone loses signal before "on my way" and finds it again after "done": its taps reach
    the server as one batch, hours late by the phone's clock. The worker sends the customer the
    rating request only: no "on my way" with a stale ETA, no "arrived" that is old news."""
    status, _ = ring(live_server, "CA" + "c" * 32)
    assert status == 200
    order = WorkOrder.objects.get()
    relay = Relay(live_server.url)
    try:
        ticks = iter(range(100))
        morning = timezone.now() - dt.timedelta(hours=2)
        morning = morning.replace(microsecond=morning.microsecond // 1000 * 1000)  # the phone's precision
        monkeypatch.setattr(
            outbox_module,
            "device_now",
            lambda: (morning + dt.timedelta(minutes=5 * next(ticks))).astimezone().isoformat(timespec="milliseconds"),
        )
        phone = technician_app(relay.url, location=FixedLocation(*PHONE_AT), location_every_s=0)
        phone.login("zhang", "pw-123456")
        phone.wait_for_jobs()
        phone.open_job(0)
        relay.online = False
        phone.tap_action("on_my_way")
        phone.tap_action("arrived")
        phone.tap_action("done")
        form = phone.app.root.get_screen("finish")
        phone.ui.type_into(form.ids.resolution, "更换滤芯")
        phone.ui.tap(form.ids.submit_button)
        assert [e.action for e in phone.app.outbox.pending()] == ["on_my_way", "arrived", "done"]
        relay.online = True
        phone.app.sync.sync_now()
        phone.wait_synced(timeout=30)
    finally:
        relay.stop()

    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.resolution == "更换滤芯"
    taps = WorkOrderEvent.objects.filter(work_order=order, client_event_id__isnull=False).order_by("id")
    assert [e.to_status for e in taps] == [Status.EN_ROUTE, Status.ON_SITE, Status.COMPLETED]
    assert [timezone.localtime(e.device_time) for e in taps] == [
        timezone.localtime(morning + dt.timedelta(minutes=5 * n)) for n in range(3)
    ]
    wait_for(
        lambda: SmsMessage.objects.filter(kind="completed", status=SmsMessage.Status.SENT).exists(),
        what="the worker to send the rating request",
    )
    time.sleep(1.0)  # a wrongly queued stale text would show up by now
    assert sorted(SmsMessage.objects.values_list("kind", flat=True)) == ["booked", "completed"]
    assert WorkOrderEvent.objects.filter(work_order=order, data__outcome="stale_tap").count() == 2
