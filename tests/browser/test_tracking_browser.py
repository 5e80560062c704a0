"""The customer's tracking page in real headless Chromium, on a phone-sized screen: the live ETA
while the technician is on the way, and "another time" offering only the slots the live plan can
take, then moving the visit. Screenshots in both languages go to test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from server.scheduling import services as scheduling_services
from server.tracking import selectors
from server.workorders import links
from server.workorders import services as wo_services
from server.workorders.models import EventKind, WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_promises import dispatched, order_at
from tests.server.test_tracking import blocker_busy_until

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = {"zh-CN": "zh", "en": "en"}
PHONE = {"width": 390, "height": 844}
_phones = itertools.count(1)


def phone() -> str:
    return f"+86138001410{next(_phones):02d}"


def customer_speaks(order: WorkOrder, language: str) -> None:
    order.customer.language = language
    order.customer.save(update_fields=["language"])


def hhmm(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%H:%M}"


@pytest.fixture
def zhang(settings):
    settings.SMS_PROVIDER = "memory"
    return factories.technician(name="张伟", lat=31.23, lon=121.47)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_page_shows_the_live_eta_while_the_technician_is_on_the_way(live_server, zhang, new_page, shot, language):
    order = dispatched(31.30, 121.55, phone=phone())
    customer_speaks(order, language)
    wo_services.work_order_technician_event(
        technician=zhang,
        client_event_id=f"omw-{language}",
        work_order_id=order.pk,
        action="on_my_way",
        device_time=timezone.now(),
        latitude=31.23,
        longitude=121.47,
    )
    order.refresh_from_db()
    window = selectors.eta_window(order, now=timezone.now())
    assert window is not None
    page = new_page(locale="zh-CN" if language == "zh-CN" else "en-US")
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + links.tracking_link(work_order=order))
    eta = page.locator("#eta").inner_text()
    assert hhmm(window[0]) in eta
    assert hhmm(window[1]) in eta
    if language == "zh-CN":
        assert eta == f"预计{hhmm(window[0])}至{hhmm(window[1])}到达"
        assert "张师傅" in page.locator("#technician").inner_text()
    else:
        assert eta.startswith("Expected arrival")
        assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#live").get_attribute("hx-trigger")  # the open page refreshes itself
    shot(page, f"tracking-eta-{LANGUAGES[language]}")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_another_time_offers_only_feasible_slots_and_moves_the_visit(live_server, zhang, new_page, shot, language):
    order = dispatched(31.24, 121.48, phone=phone())
    customer_speaks(order, language)
    # Another customer's eight-hour job fills 张伟's next hours: he is the only technician, so
    # no slot may start before it is done.
    blocker = order_at(31.25, 121.49, phone=phone())
    WorkOrder.objects.filter(pk=blocker.pk).update(service_minutes=480)
    blocker = scheduling_services.work_order_dispatch(work_order_id=blocker.pk)
    assert blocker.technician == zhang
    order.refresh_from_db()
    busy_until = blocker_busy_until(blocker, moved=order)
    expected = selectors.tracking_slots(work_order=order)
    assert expected

    page = new_page(locale="zh-CN" if language == "zh-CN" else "en-US")
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + links.tracking_link(work_order=order))
    shot(page, f"tracking-booked-{LANGUAGES[language]}")
    page.click("#another-time")
    buttons = page.locator("button.slot")
    offered = buttons.evaluate_all("els => els.map(e => e.value)")
    assert offered == [slot.key for slot in expected]
    assert all(slot.end >= busy_until for slot in expected)  # nothing inside the full hours
    shot(page, f"tracking-slots-{LANGUAGES[language]}")

    chosen = expected[0]
    buttons.first.click()
    page.wait_for_selector("#done")
    order.refresh_from_db()
    assert (order.promised_start, order.promised_end) == (chosen.start, chosen.end)
    assert order.planned_arrival is not None
    assert chosen.start <= order.planned_arrival <= chosen.end
    assert WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.PROMISE, data__outcome="rescheduled").exists()
    assert WorkOrderEvent.objects.filter(work_order=order, data__action="customer_rescheduled").exists()
    assert hhmm(chosen.start) in page.locator("#promised").inner_text()
    shot(page, f"tracking-rescheduled-{LANGUAGES[language]}")
