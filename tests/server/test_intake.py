"""A call becomes a work order: Twilio's signed webhook and the generic CTI webhook."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from server.customers.models import Customer
from server.intake.models import CallRecord
from server.workorders.models import Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

TOKEN = "test-twilio-token"
URL = "http://testserver/webhooks/twilio/voice"


def twilio_params(call_sid="CA" + "1" * 32, caller="+8613800138001"):
    return {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": "+14155550100",
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}


def post_twilio(client, params, *, token=TOKEN, signature=None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(URL, params)
    return client.post("/webhooks/twilio/voice", params, HTTP_X_TWILIO_SIGNATURE=signature)


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
    signature = RequestValidator(TOKEN).compute_signature(
        "https://dispatch.example.com/webhooks/twilio/voice", params
    )
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


def test_unreadable_caller_number_is_refused_and_changes_nothing(client, cti):
    response = post_twilio(client, twilio_params(caller="anonymous"))
    assert response.status_code == 400
    assert b"<Say" in response.content
    response = client.post(
        "/webhooks/cti/call", json.dumps({"call_id": "x1", "caller": "12ab"}), content_type="application/json",
        HTTP_X_FIXROUTE_TOKEN="cti-secret",
    )
    assert response.status_code == 422
    assert "'12ab'" in response.json()["message"]
    assert WorkOrder.objects.count() == 0
    assert CallRecord.objects.count() == 0
    assert Customer.objects.count() == 0


def post_cti(client, body, token="cti-secret"):
    return client.post("/webhooks/cti/call", json.dumps(body), content_type="application/json",
                       HTTP_X_FIXROUTE_TOKEN=token)


def test_cti_call_creates_and_dispatches_an_order(client, cti):
    factories.customer()
    response = post_cti(client, {"call_id": "cti-1", "caller": "138 0013 8001", "called": "4008001234",
                                 "digits": "2", "reason": "净水器漏水"})
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
        ({"call_id": "c", "caller": "not a number"}, 422, "not a phone number"),
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
    body = client.post("/webhooks/cti/call", b"{not json", content_type="application/json",
                       HTTP_X_FIXROUTE_TOKEN="cti-secret")
    assert body.status_code == 400
    assert WorkOrder.objects.count() == 0
