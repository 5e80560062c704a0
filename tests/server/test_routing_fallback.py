"""A routing provider that fails does not fail a call or a tap: the offline model answers."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone

from dispatch.model import Location
from dispatch.travel import GeodesicTravel
from notifications.models import SmsMessage
from server.common import travel
from server.workorders.models import EventKind, Status, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db

CUSTOMER_AT = Location(31.2290, 121.4560)  # factories.customer's site
PHONE_AT = Location(31.2600, 121.4900)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed on leaving: nothing listens there


@pytest.fixture
def osrm_down(settings) -> Iterator[None]:
    settings.ROUTING_PROVIDER = "osrm"
    settings.OSRM_URL = f"http://127.0.0.1:{_closed_port()}"
    settings.CTI_WEBHOOK_TOKEN = "cti-secret"
    travel.travel_provider.cache_clear()
    yield
    travel.travel_provider.cache_clear()


def _geodesic_minutes(settings, origin: Location, destination: Location) -> int:
    model = GeodesicTravel(circuity=settings.ROUTING_CIRCUITY, speed_kmh=settings.ROUTING_SPEED_KMH)
    return model.durations([origin, destination], depart_minute=travel.minute_of_day(timezone.now()))[0][1]


def test_travel_estimate_falls_back_to_the_geodesic_model_marked_approximate(settings, osrm_down):
    estimate = travel.travel_estimate(PHONE_AT, CUSTOMER_AT, at=timezone.now())
    assert estimate.minutes == _geodesic_minutes(settings, PHONE_AT, CUSTOMER_AT)
    assert estimate.minutes > 0
    assert estimate.approximate is True
    assert travel.travel_minutes(PHONE_AT, CUSTOMER_AT, at=timezone.now()) == estimate.minutes
    assert travel.travel_approximate() is True


def test_the_default_geodesic_model_is_not_approximate(settings):
    settings.ROUTING_PROVIDER = "geodesic"
    travel.travel_provider.cache_clear()
    try:
        estimate = travel.travel_estimate(PHONE_AT, CUSTOMER_AT, at=timezone.now())
        assert estimate == travel.TravelEstimate(_geodesic_minutes(settings, PHONE_AT, CUSTOMER_AT), False)
        assert travel.travel_approximate() is False
    finally:
        travel.travel_provider.cache_clear()


def test_a_call_is_dispatched_and_on_my_way_answers_while_osrm_is_down(
    client, settings, osrm_down, django_capture_on_commit_callbacks
):
    zhang = factories.technician(name="张伟", username="zhang", lat=31.2300, lon=121.4600)
    factories.technician(name="李强", username="li", lat=31.3000, lon=121.6000)
    factories.customer()
    response = client.post(
        "/webhooks/cti/call",
        json.dumps({"call_id": "cti-osrm-down", "caller": "13800138001"}),
        content_type="application/json",
        HTTP_X_FIXROUTE_TOKEN="cti-secret",
    )
    assert response.status_code == 201, response.content
    assert response.json()["work_order"]["technician"] == "张伟"
    order = WorkOrder.objects.get()
    assert order.technician == zhang
    assert order.status == Status.SCHEDULED

    login = client.post(
        "/api/auth/token", {"username": "zhang", "password": "pw-123456"}, content_type="application/json"
    )
    token = login.json()["token"]
    body = {
        "client_event_id": uuid.uuid4().hex,
        "work_order_id": order.pk,
        "action": "on_my_way",
        "device_time": timezone.now().isoformat(),
        "latitude": PHONE_AT.lat,
        "longitude": PHONE_AT.lon,
    }
    with django_capture_on_commit_callbacks(execute=True):
        tapped = client.post(
            "/api/mobile/events", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    assert tapped.status_code == 200, tapped.content
    assert tapped.json()["job"]["status"] == "en_route"
    eta = _geodesic_minutes(settings, PHONE_AT, CUSTOMER_AT)
    sms_event = order.events.get(kind=EventKind.SMS, data__sms_kind="on_my_way")
    assert sms_event.data["eta_minutes"] == eta  # the offline model's minutes
    assert sms_event.data["eta_approximate"] is True
    start = timezone.localtime(dt.datetime.fromisoformat(sms_event.data["window_start"]))
    assert SmsMessage.objects.get(kind="on_my_way").body.startswith(f"【品牌】张师傅已出发，预计{start:%H:%M}至")
