"""A call becomes a work order: Twilio's signed webhook and the generic CTI webhook."""

import datetime as dt
import json

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown
from twilio.request_validator import RequestValidator

from server.care import services as care_services
from server.care.models import CallbackTask
from server.customers.models import Customer
from server.intake.models import CallRecord
from server.scheduling import services
from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

TOKEN = "test-twilio-token"
URL = "http://testserver/webhooks/twilio/voice"


def twilio_params(call_sid="CA" + "1" * 32, caller="+8613800138001"):
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": "+14155550100",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }


def post_twilio(client, params, *, token=TOKEN, signature=None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(URL, params)
    return client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature)


def post_cti(client, body, token="cti-secret"):
    return client.post(
        "/webhooks/cti/call", json.dumps(body), content_type="application/json", HTTP_X_FIXROUTE_TOKEN=token
    )


@pytest.fixture
def crew(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    near = factories.technician(name="张伟", lat=31.2300, lon=121.4600)  # about 1 km from the customer
    far = factories.technician(name="李强", lat=31.3000, lon=121.6000)
    unskilled = factories.technician(name="刘洋", lat=31.2291, lon=121.4561, skills=("hvac",))
    return {"near": near, "far": far, "unskilled": unskilled}


@pytest.fixture
def cti(settings, crew):
    settings.CTI_WEBHOOK_TOKEN = "cti-secret"
    return crew


def test_signed_call_from_known_customer_creates_an_order_for_the_nearest_skilled_technician(client, crew):
    customer = factories.customer()
    response = post_twilio(client, twilio_params())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response>" in response.content
    assert b"<Say" in response.content
    order = WorkOrder.objects.get()
    assert order.customer == customer
    assert order.site == customer.sites.get()
    assert order.equipment is not None
    assert order.status == Status.SCHEDULED
    # The unskilled technician lives next door but cannot service a water purifier.
    assert order.technician == crew["near"]
    assert order.planned_arrival is not None
    assert order.reference.encode() in response.content
    explanation = order.assignment_explanation
    names = {row["technician"]: row for row in explanation["candidates"]}
    assert explanation["chosen"] == "张伟"
    assert names["刘洋"]["skill_ok"] is False
    assert names["李强"]["feasible"] is True
    assert not names["李强"]["chosen"]
    texts = " ".join(order.events.values_list("text", flat=True))
    assert "刘洋" in texts
    assert "张伟" in texts
    call = CallRecord.objects.get()
    assert call.work_order == order
    assert call.outcome == "created"
    assert call.caller_phone == "+8613800138001"


def test_forged_signature_is_refused_and_creates_nothing(client, crew):
    factories.customer()
    response = post_twilio(client, twilio_params(), signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    response = client.post("/webhooks/twilio/voice", twilio_params())  # no signature at all
    assert response.status_code == 403
    response = post_twilio(client, twilio_params(), token="someone-elses-token")
    assert response.status_code == 403
    assert WorkOrder.objects.count() == 0
    assert CallRecord.objects.count() == 0


def test_without_a_token_unsigned_calls_are_accepted_only_in_debug(client, settings, crew):
    factories.customer()
    settings.TWILIO_AUTH_TOKEN = ""
    settings.DEBUG = False
    assert client.post("/webhooks/twilio/voice", twilio_params()).status_code == 403
    assert WorkOrder.objects.count() == 0
    settings.DEBUG = True
    assert client.post("/webhooks/twilio/voice", twilio_params()).status_code == 200
    assert WorkOrder.objects.count() == 1


def test_public_base_url_is_what_the_signature_covers(client, settings, crew):
    factories.customer()
    settings.PUBLIC_BASE_URL = "https://dispatch.example.com"
    params = twilio_params()
    signature = RequestValidator(TOKEN).compute_signature("https://dispatch.example.com/webhooks/twilio/voice", params)
    assert client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    assert post_twilio(client, twilio_params(call_sid="CA" + "2" * 32)).status_code == 403


def test_the_same_call_twice_creates_one_order(client, crew):
    factories.customer()
    first = post_twilio(client, twilio_params())
    second = post_twilio(client, twilio_params())
    assert first.status_code == second.status_code == 200
    assert WorkOrder.objects.count() == 1
    assert CallRecord.objects.count() == 1


def test_a_repeat_call_within_seven_days_joins_the_open_order(client, crew):
    factories.customer()
    post_twilio(client, twilio_params(call_sid="CA" + "1" * 32))
    post_twilio(client, twilio_params(call_sid="CA" + "2" * 32))
    order = WorkOrder.objects.get()
    assert CallRecord.objects.filter(work_order=order).count() == 2
    assert CallRecord.objects.get(call_id="CA" + "2" * 32).outcome == "joined"
    assert order.events.filter(kind="call").count() == 1


def test_a_call_after_seven_days_opens_a_new_order(client, crew):
    factories.customer()
    post_twilio(client, twilio_params(call_sid="CA" + "1" * 32))
    WorkOrder.objects.update(created_at=timezone.now() - dt.timedelta(days=8))
    post_twilio(client, twilio_params(call_sid="CA" + "2" * 32))
    assert WorkOrder.objects.count() == 2


def test_unknown_number_creates_an_order_flagged_for_staff(client, crew):
    response = post_twilio(client, twilio_params(caller="+8613912345678"))
    assert response.status_code == 200
    order = WorkOrder.objects.get()
    assert order.needs_review is True
    assert order.status == Status.NEW  # no address yet: a dispatcher places it once staff complete it
    assert order.customer.phone == "+8613912345678"
    assert order.customer.needs_review
    assert "no map location" in " ".join(order.events.values_list("text", flat=True))


@pytest.mark.parametrize("caller", ["anonymous", "", "+266696687", "Restricted", "Unknown", "12ab", "+86282452253"])
def test_a_withheld_or_unreadable_caller_is_recorded_for_a_callback(client, crew, caller):
    """Twilio answers 200 with TwiML: a 400 would make Twilio play its own error and lose the call."""
    response = post_twilio(client, twilio_params(caller=caller) | {"SpeechResult": "热水器不出热水"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.count(b"<Say") == 2
    assert b"call you back" in response.content
    assert "客服人员会尽快与您联系".encode() in response.content
    call = CallRecord.objects.get()
    assert call.outcome == "unidentified"
    assert call.caller_phone == ""
    assert call.caller_raw == caller
    order = call.work_order
    assert order.reference.encode() in response.content
    assert order.needs_review is True
    assert order.status == Status.NEW
    assert "热水器不出热水" in order.problem
    assert order.customer.phone is None
    assert order.customer.needs_review is True
    task = CallbackTask.objects.get()
    assert (task.call, task.work_order, task.customer) == (call, order, order.customer)
    assert task.phone == ""
    assert task.caller_raw == caller
    assert task.done_at is None
    assert task.kind == "unidentified"
    assert order.events.filter(kind="call", text__startswith="Callback needed").exists()


def test_withheld_callers_are_never_joined_and_a_retry_is_one_call(client, crew):
    post_twilio(client, twilio_params(call_sid="CA" + "1" * 32, caller="anonymous"))
    again = post_twilio(client, twilio_params(call_sid="CA" + "1" * 32, caller="anonymous"))
    post_twilio(client, twilio_params(call_sid="CA" + "2" * 32, caller="anonymous"))
    assert again.status_code == 200
    assert b"call you back" in again.content
    assert CallRecord.objects.count() == 2
    assert WorkOrder.objects.count() == 2  # two withheld numbers are not the same person
    assert CallbackTask.objects.count() == 2
    assert Customer.objects.count() == 2


def test_twilio_without_a_call_sid_still_answers_twiml(client, crew):
    params = twilio_params()
    del params["CallSid"]
    response = post_twilio(client, params)
    assert response.status_code == 200
    assert b"<Say" in response.content
    assert b"call again" in response.content
    assert CallRecord.objects.count() == 0


@pytest.mark.parametrize(
    "body", [{"call_id": "x1", "caller": "12ab"}, {"call_id": "x1"}, {"call_id": "x1", "caller": None}]
)
def test_cti_records_a_caller_it_cannot_identify(client, cti, body):
    response = post_cti(client, body | {"reason": "没有热水"})
    assert response.status_code == 201
    answer = response.json()
    assert answer["outcome"] == "unidentified"
    assert answer["work_order"]["needs_review"] is True
    call = CallRecord.objects.get()
    assert call.caller_phone == ""
    assert call.work_order_id == answer["work_order"]["id"]
    task = CallbackTask.objects.get()
    assert task.work_order_id == call.work_order_id
    assert task.caller_raw == (body.get("caller") or "")
    repeat = post_cti(client, body)
    assert repeat.status_code == 200
    assert repeat.json()["repeated_request"] is True
    assert CallbackTask.objects.count() == 1


def test_staff_mark_a_callback_done_in_the_admin(client, cti):
    post_cti(client, {"call_id": "x1", "caller": "anonymous"})
    task = CallbackTask.objects.get()
    admin_user = User.objects.create_superuser("boss", password="pw-123456")
    client.force_login(admin_user)
    assert client.get("/admin/care/callbacktask/").status_code == 200
    response = client.post("/admin/care/callbacktask/", {"action": "mark_called_back", "_selected_action": [task.pk]})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.done_at is not None
    assert task.done_by == admin_user


def test_a_callback_task_keeps_who_called_back_first():
    task = care_services.callback_task_create(kind="unidentified", reason="ask for the address", phone="138 0013 8001")
    assert task.phone == "+8613800138001"
    first, second = factories.staff(), factories.staff()
    done = care_services.callback_task_complete(task_id=task.pk, user=first)
    again = care_services.callback_task_complete(task_id=task.pk, user=second)
    assert again.done_by == first
    assert again.done_at == done.done_at


def test_cti_call_creates_and_dispatches_an_order(client, cti):
    factories.customer()
    response = post_cti(
        client,
        {"call_id": "cti-1", "caller": "138 0013 8001", "called": "4008001234", "digits": "2", "reason": "净水器漏水"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["outcome"] == "created"
    assert body["work_order"]["technician"] == "张伟"
    order = WorkOrder.objects.get()
    assert "净水器漏水" in order.problem
    assert "IVR choice: 2" in order.problem
    again = post_cti(client, {"call_id": "cti-1", "caller": "13800138001"})
    assert again.status_code == 200
    assert again.json()["repeated_request"] is True
    assert WorkOrder.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"caller": "13800138001"}, 422, "Invalid call event"),
        ({"call_id": "  ", "caller": "13800138001"}, 422, "no call id"),
        ({"call_id": 5, "caller": "13800138001"}, 422, "Invalid call event"),
    ],
)
def test_cti_bad_input_gets_a_clear_error_and_changes_nothing(client, cti, body, status, message):
    response = post_cti(client, body)
    assert response.status_code == status
    assert message in response.json()["message"]
    assert WorkOrder.objects.count() == 0
    assert CallRecord.objects.count() == 0


def test_cti_wrong_token_is_refused(client, cti):
    factories.customer()
    assert post_cti(client, {"call_id": "c", "caller": "13800138001"}, token="nope").status_code == 403
    body = client.post(
        "/webhooks/cti/call", b"{not json", content_type="application/json", HTTP_X_FIXROUTE_TOKEN="cti-secret"
    )
    assert body.status_code == 400
    assert WorkOrder.objects.count() == 0


def test_a_call_whose_new_customer_another_call_just_created_is_recorded(client, cti):
    """Calls at once from a new number race to create its customer; the losers join the winner's.

    The other call is simulated: its customer row appears right after this call looked for one.
    """
    phone = "+8613912345678"
    raced = []

    def another_call_creates_the_customer(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not raced and sql.startswith("SELECT") and '"customers_customer"' in sql and phone in (params or ()):
            raced.append(sql)
            Customer.objects.bulk_create([Customer(phone=phone, needs_review=True)])
        return result

    with connection.execute_wrapper(another_call_creates_the_customer):
        response = post_cti(client, {"call_id": "race-1", "caller": "13912345678", "reason": "漏水"})
    assert raced
    assert response.status_code == 201
    customer = Customer.objects.get()
    assert customer.phone == phone
    call = CallRecord.objects.get()
    assert call.customer == customer
    assert call.work_order.customer == customer
    assert call.outcome == "created"
    second = post_cti(client, {"call_id": "race-2", "caller": "13912345678"})
    assert second.json()["outcome"] == "joined"
    assert Customer.objects.count() == 1


CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    """The cache and the Celery broker both point at a port nobody listens on."""
    from server.config.celery_app import app

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CLOSED_PORT}}
    conf = app.conf
    before = {"broker_url": conf.broker_url, "task_always_eager": conf.task_always_eager}
    conf.update(broker_url=CLOSED_PORT, task_always_eager=False)
    # The connection pools are made once from the broker URL: start and end without them.
    app._pool = None
    app.amqp._producer_pool = None
    yield
    conf.update(before)
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)
def test_a_call_is_recorded_with_redis_down(client, cti, redis_down, caplog, settings):
    """Cache and broker refuse connections: the call and its order commit and the answer is 201."""
    factories.customer()
    response = post_cti(client, {"call_id": "down-1", "caller": "13800138001", "reason": "漏水"})
    assert response.status_code == 201
    assert "Re-plan not requested: the cache is unavailable" in caplog.text
    order = WorkOrder.objects.get()
    assert CallRecord.objects.get().work_order == order
    assert order.technician == cti["near"]
    # The cache answers again but the broker is still down: the re-plan is logged and dropped.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    factories.customer(name="钱进", phone="+8613800138002")
    response = post_cti(client, {"call_id": "down-2", "caller": "13800138002"})
    assert response.status_code == 201
    assert "Could not start server.scheduling.tasks.replan" in caplog.text
    assert CallRecord.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_intake_transaction_never_waits_on_the_cache_or_the_broker(client, cti, monkeypatch):
    """A cache or broker that hangs or fails is met only after the call's transaction committed."""
    from server.scheduling.tasks import replan as replan_task

    factories.customer()
    seen = []

    class Cache:
        """Records whether a transaction is open when it is used; ``down`` makes it refuse."""

        down = True

        def set(self, *args, **kwargs):
            seen.append(("cache", connection.in_atomic_block))
            if self.down:
                raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def broker_down(*args, **kwargs):
        seen.append(("broker", connection.in_atomic_block))
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    cache = Cache()
    monkeypatch.setattr(services, "cache", cache)
    monkeypatch.setattr(replan_task, "apply_async", broker_down)
    assert post_cti(client, {"call_id": "c-1", "caller": "13800138001"}).status_code == 201
    cache.down = False
    factories.customer(name="钱进", phone="+8613800138002")
    assert post_cti(client, {"call_id": "c-2", "caller": "13800138002"}).status_code == 201
    assert seen == [("cache", False), ("cache", False), ("broker", False)]
    assert CallRecord.objects.count() == 2
    assert WorkOrder.objects.count() == 2
