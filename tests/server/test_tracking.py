"""The customer's tracking page: the signed link, the live ETA, and the three choices (confirm,
another time, cancel), each going through the work-order services onto the timeline."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from server.common.exceptions import Conflict, NotFound
from server.scheduling import services as scheduling_services
from server.tracking import selectors, services
from server.workorders import links
from server.workorders import services as wo_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_promises import dispatched, order_at

pytestmark = pytest.mark.django_db

_taps = itertools.count(1)


@pytest.fixture
def zhang():
    return factories.technician(name="张伟", lat=31.23, lon=121.47)


def blocker_busy_until(blocker, *, moved):
    """When the blocker's job ends at the earliest once ``moved`` leaves the route: the blocker may
    then start sooner by the moved order's service time and the drive to it (30 minutes is more
    than any drive in these tests)."""
    sooner = (
        dt.timedelta(minutes=moved.service_minutes + 30)
        if moved.route_position < blocker.route_position
        else dt.timedelta(0)
    )
    return blocker.planned_arrival - sooner + dt.timedelta(minutes=blocker.service_minutes)


def tap(order, action, **kwargs):
    order.refresh_from_db()
    return wo_services.work_order_technician_event(
        technician=order.technician,
        client_event_id=f"tap-{next(_taps)}",
        work_order_id=order.pk,
        action=action,
        device_time=timezone.now(),
        **kwargs,
    )[0]


def page(client, order, suffix=""):
    return client.get(links.tracking_link(work_order=order) + suffix)


# --- the link -------------------------------------------------------------------------------


def test_link_round_trip_is_short_and_absolute_with_a_public_base(settings, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140001")
    settings.PUBLIC_BASE_URL = ""
    relative = links.tracking_link(work_order=order)
    assert relative.startswith("/t/")
    assert relative.endswith("/")
    settings.PUBLIC_BASE_URL = "https://fx.cn"
    link = links.tracking_link(work_order=order)
    assert link == "https://fx.cn" + relative  # the same token each time
    assert len(link) <= 40
    token = relative.split("/")[2]
    assert links.tracking_order(token) == order


def test_forged_altered_and_revoked_tokens_are_404(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140002")
    other = dispatched(31.25, 121.49, phone="+8613800140003")
    token = links.tracking_token(work_order=order)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    # Another order's id with this order's signature.
    swapped = links.tracking_token(work_order=other)[: -links.SIGNATURE_LENGTH] + token[-links.SIGNATURE_LENGTH :]
    for bad in (flipped, swapped, "abc", "x" * 30, "!!" + token[2:]):
        with pytest.raises(NotFound):
            links.tracking_order(bad)
        response = client.get(f"/t/{bad}/")
        assert response.status_code == 404
    assert client.get(f"/t/{token}/").status_code == 200
    links.tracking_link_revoke(work_order=order)
    assert client.get(f"/t/{token}/").status_code == 404
    assert links.tracking_order(links.tracking_token(work_order=order)) == order  # a new link works


def test_link_shows_the_visit_ended_then_expires_after_the_grace(client, settings, zhang):
    settings.TRACKING_LINK_GRACE_HOURS = 2
    order = dispatched(31.24, 121.48, phone="+8613800140004")
    tap(order, "on_my_way")
    tap(order, "arrived")
    tap(order, "done")
    response = page(client, order)
    assert response.status_code == 200
    assert "这次上门已结束" in response.content.decode()
    assert b'id="confirm"' not in response.content
    assert b'id="another-time"' not in response.content
    WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.STATUS).update(
        created_at=timezone.now() - dt.timedelta(hours=3)
    )
    with pytest.raises(links.LinkExpired):
        links.tracking_order(links.tracking_token(work_order=order))
    response = page(client, order)
    assert response.status_code == 410
    assert "已过期" in response.content.decode()


# --- the page ---------------------------------------------------------------------------------


def test_page_in_the_customers_language_with_technician_and_window(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140005")
    body = page(client, order).content.decode()
    assert "张师傅" in body
    start = timezone.localtime(order.promised_start)
    assert f"{start:%H:%M}" in body
    assert "确认这个时间" in body
    assert "hx-trigger" in body  # a booked visit's page turns to "on the way" by itself
    order.customer.language = "en"
    order.customer.save()
    body = page(client, order).content.decode()
    assert "Technician 张" in body
    assert "Confirm this time" in body
    assert 'lang="en"' in body


def test_live_eta_window_while_en_route(client, zhang):
    order = dispatched(31.30, 121.55, phone="+8613800140006")
    assert selectors.eta_window(order, now=timezone.now()) is None  # not on the way yet
    tap(order, "on_my_way", latitude=31.23, longitude=121.47)
    order.refresh_from_db()
    now = timezone.now()
    window = selectors.eta_window(order, now=now)
    assert window is not None
    start, end = window
    minutes = wo_services.work_order_eta_minutes(order, now=now)
    assert minutes is not None
    assert minutes > 5
    assert start <= now + dt.timedelta(minutes=minutes) <= end
    assert timezone.localtime(start).minute % 5 == 0
    assert timezone.localtime(end).minute % 5 == 0
    body = page(client, order).content.decode()
    assert f"预计{timezone.localtime(start):%H:%M}至{timezone.localtime(end):%H:%M}到达" in body
    assert "hx-trigger" in body  # the open page refreshes the ETA by itself
    live = page(client, order, "eta/")
    assert live.status_code == 200
    assert "师傅正在路上" in live.content.decode()


# --- the choices ------------------------------------------------------------------------------


def test_confirm_writes_an_event_once(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140007")
    response = client.post(links.tracking_link(work_order=order) + "confirm/")
    assert response.status_code == 302
    event = WorkOrderEvent.objects.get(work_order=order, data__action="customer_confirmed")
    assert event.actor_label == "customer"
    assert event.data["promised_start"] == order.promised_start.isoformat()
    body = client.get(response["Location"]).content.decode()
    assert "已确认" in body
    assert 'id="confirm"' not in body


def test_cancel_with_a_reason_cancels_the_order_on_the_timeline(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140008")
    response = client.post(links.tracking_link(work_order=order) + "cancel/", {"reason": "已经自己修好了"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    status = WorkOrderEvent.objects.get(work_order=order, kind=EventKind.STATUS, to_status=Status.CANCELLED)
    assert "已经自己修好了" in status.text
    assert WorkOrderEvent.objects.filter(work_order=order, data__action="customer_cancelled").exists()
    assert "这次上门已结束" in client.get(response["Location"]).content.decode()


def test_cancel_is_refused_once_the_technician_is_on_the_way(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140009")
    tap(order, "on_my_way", latitude=31.23, longitude=121.47)
    response = client.post(links.tracking_link(work_order=order) + "cancel/", {"reason": ""})
    assert response.status_code == 409
    order.refresh_from_db()
    assert order.status == Status.EN_ROUTE


def test_reschedule_to_an_offered_slot_moves_the_promise(client, zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140010")
    slots = selectors.tracking_slots(work_order=order)
    assert slots
    slot = slots[-1]
    response = client.post(links.tracking_link(work_order=order) + "reschedule/", {"slot": slot.key})
    assert response.status_code == 302, response.content
    order.refresh_from_db()
    assert (order.promised_start, order.promised_end) == (slot.start, slot.end)
    assert order.status == Status.SCHEDULED
    assert order.planned_arrival is not None
    assert slot.start <= order.planned_arrival <= slot.end
    promise = WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.PROMISE).last()
    assert promise.data["outcome"] == "rescheduled"
    assert WorkOrderEvent.objects.filter(work_order=order, data__action="customer_rescheduled").exists()


def test_reschedule_refuses_a_slot_that_was_not_offered(zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140011")
    before = (order.promised_start, order.version)
    past = str(int((timezone.now() - dt.timedelta(hours=3)).timestamp()))
    with pytest.raises(Conflict):
        services.tracking_reschedule(work_order=order, slot_key=past)
    order.refresh_from_db()
    assert (order.promised_start, order.version) == before


def test_a_full_day_takes_its_windows_away(zhang):
    order = dispatched(31.24, 121.48, phone="+8613800140012")
    free = selectors.tracking_slots(work_order=order)
    # Another customer's ten-hour job now fills 张伟's next hours (he is the only technician).
    blocker = order_at(31.25, 121.49, phone="+8613800140013")
    WorkOrder.objects.filter(pk=blocker.pk).update(service_minutes=600)
    blocker = scheduling_services.work_order_dispatch(work_order_id=blocker.pk)
    assert blocker.technician == zhang
    order.refresh_from_db()
    busy_until = blocker_busy_until(blocker, moved=order)
    offered = selectors.tracking_slots(work_order=order)
    assert [s for s in free if s.end < busy_until]  # before, those hours were offered
    assert offered
    assert all(slot.end >= busy_until for slot in offered)


def test_no_technician_with_the_skill_offers_no_slot_and_says_call_us(client, zhang):
    order = order_at(31.24, 121.48, phone="+8613800140014", skill="hvac")
    order = scheduling_services.work_order_dispatch(work_order_id=order.pk)
    assert order.status == Status.NEW
    assert selectors.tracking_slots(work_order=order) == []
    body = page(client, order, "slots/").content.decode()
    assert 'id="no-slots"' in body
    assert "请致电我们" in body
