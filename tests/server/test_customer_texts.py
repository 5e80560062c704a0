"""The customer's texts about a visit: booked, day before, on my way with an ETA window, running
late (at most twice, then a person calls), arrived, completed, rescheduled, cancelled; each one
on the order's timeline with what became of it."""

import datetime as dt

import pytest
from django.utils import timezone

from dispatch.model import Location
from notifications.models import SmsMessage
from server.care.models import CallbackTask
from server.common.travel import travel_minutes
from server.crm import tasks as crm_tasks
from server.crm.tasks import visit_eta_sweep
from server.customers.models import Customer, Site
from server.scheduling import changes
from server.workorders import services as wo_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db

HOME = (31.2300, 121.4700)
SITE_A = (31.2400, 121.4800)
SITE_B = (31.2800, 121.5300)


def hhmm(moment):
    return f"{timezone.localtime(moment):%H:%M}"


def order_at(where, *, phone, language="zh-CN", service_minutes=60, consent=True):
    customer = Customer.objects.create(
        name=f"c{phone[-3:]}", phone=phone, language=language, consent_service_sms=consent
    )
    site = Site.objects.create(customer=customer, address=f"addr {phone}", latitude=where[0], longitude=where[1])
    return wo_services.work_order_create(
        customer=customer,
        site=site,
        problem="leak",
        required_skill=factories.skill(),
        service_minutes=service_minutes,
    )


def assign(order, technician, arrival, position=1):
    return wo_services.work_order_assign(
        work_order_id=order.pk,
        technician=technician,
        day=timezone.localtime(arrival).date(),
        planned_arrival=arrival,
        route_position=position,
    )


def texts(order, kind=None):
    rows = SmsMessage.objects.filter(work_order_id=order.pk).order_by("id")
    return list(rows.filter(kind=kind) if kind else rows)


def sms_events(order, kind):
    return [
        event
        for event in WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.SMS).order_by("id")
        if event.data.get("sms_kind") == kind
    ]


@pytest.fixture
def zhang():
    return factories.technician(name="张伟", lat=HOME[0], lon=HOME[1])


@pytest.mark.parametrize(
    ("language", "window_words"),
    [("zh-CN", "预计{start}至{end}到达"), ("en", "between {start} and {end}")],
)
def test_booked_tells_the_promised_window_the_technician_and_the_link(settings, zhang, language, window_words):
    settings.SMS_SIGNATURE = "品牌" if language == "zh-CN" else "Brand"
    order = order_at(SITE_A, phone="+8613800139001", language=language)
    arrival = timezone.now() + dt.timedelta(hours=3)
    order = assign(order, zhang, arrival)
    start, end = wo_services.promise_window_for(arrival)
    (booked,) = texts(order)
    assert booked.kind == "booked"
    assert window_words.format(start=hhmm(start), end=hhmm(end)) in booked.body
    assert ("张师傅" if language == "zh-CN" else "your technician") in booked.body
    assert "/t/" in booked.body  # the tracking link
    (event,) = sms_events(order, "booked")
    assert event.data["sms_id"] == booked.pk
    assert event.data["outcome"] in ("queued", "sent")
    assert event.data["window_start"] == order.promised_start.isoformat()
    assert event.data["promised_end"] == order.promised_end.isoformat()


def test_a_customer_without_consent_gets_nothing_and_the_timeline_says_why(zhang):
    order = order_at(SITE_A, phone="+8613800139002", consent=False)
    order = assign(order, zhang, timezone.now() + dt.timedelta(hours=3))
    (row,) = texts(order)
    assert row.status == SmsMessage.Status.SUPPRESSED
    (event,) = sms_events(order, "booked")
    assert event.data["outcome"] == "suppressed"
    assert event.data["reason"]
    assert "not sent" in event.text
    assert event.data["reason"] in event.text


def test_on_my_way_tells_an_eta_window_from_the_technicians_position_and_arrival_is_recorded(zhang):
    order = order_at(SITE_B, phone="+8613800139003")
    order = assign(order, zhang, timezone.now() + dt.timedelta(minutes=40))
    now = timezone.now()
    wo_services.technician_report_location(technician=zhang, latitude=SITE_A[0], longitude=SITE_A[1], at=now)
    wo_services.work_order_transition(work_order_id=order.pk, to_status=Status.EN_ROUTE)
    (sms,) = texts(order, "on_my_way")
    (event,) = sms_events(order, "on_my_way")
    travel = travel_minutes(Location(*SITE_A), Location(*SITE_B), at=now)
    assert event.data["eta_minutes"] == travel
    eta = dt.datetime.fromisoformat(event.data["eta"])
    assert abs(eta - (now + dt.timedelta(minutes=travel))) < dt.timedelta(minutes=1)
    start, end = wo_services.eta_window(eta, travel=travel)
    assert (start.minute % 5, end.minute % 5) == (0, 0)
    assert start <= eta - dt.timedelta(minutes=5)
    assert end >= eta + dt.timedelta(minutes=10)
    assert f"预计{hhmm(start)}至{hhmm(end)}到达" in sms.body
    assert event.data["window_start"] == start.isoformat()
    assert "/t/" in sms.body

    wo_services.work_order_transition(work_order_id=order.pk, to_status=Status.ON_SITE)
    wo_services.work_order_transition(work_order_id=order.pk, to_status=Status.COMPLETED)
    assert [row.kind for row in texts(order)] == ["booked", "on_my_way", "arrived", "completed"]
    arrived = WorkOrderEvent.objects.get(work_order=order, kind=EventKind.STATUS, to_status=Status.ON_SITE)
    record = arrived.data["arrival"]
    order.refresh_from_db()
    assert record["promised_start"] == order.promised_start.isoformat()
    assert record["eta_start"] == start.isoformat()
    assert record["eta_end"] == end.isoformat()
    assert dt.datetime.fromisoformat(record["arrived_at"]) >= now
    assert "1-5" in texts(order, "completed")[0].body


def test_rescheduling_and_cancelling_tell_the_customer(settings, zhang):
    settings.SMS_SIGNATURE = "Brand"  # English texts are GSM-7
    staff = factories.staff()
    order = order_at(SITE_A, phone="+8613800139004", language="en")
    order = assign(order, zhang, timezone.now() + dt.timedelta(hours=2))
    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    start = tomorrow.replace(hour=14, minute=0, second=0, microsecond=0)
    changes.work_order_reschedule(
        work_order_id=order.pk,
        window_start=start,
        window_end=start + dt.timedelta(hours=2),
        reason="asked",
        actor=staff,
    )
    (moved,) = texts(order, "rescheduled")
    assert "between 14:00 and 16:00" in moved.body
    assert not texts(order, "booked")[1:]  # the new promise is the rescheduled text, not a second booking
    changes.work_order_cancel(work_order_id=order.pk, reason="customer cancelled", actor=staff)
    (cancelled,) = texts(order, "cancelled")
    assert order.reference in cancelled.body
    assert dt.datetime.fromisoformat(sms_events(order, "cancelled")[0].data["window_start"]) == start


def test_the_day_before_reminder_goes_once_to_tomorrows_promised_visits(zhang):
    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    order = order_at(SITE_A, phone="+8613800139005")
    order = assign(order, zhang, tomorrow.replace(hour=10, minute=20, second=0, microsecond=0))
    later = order_at(SITE_B, phone="+8613800139006")
    assign(later, zhang, tomorrow.replace(hour=10, minute=20) + dt.timedelta(days=1), position=1)
    assert crm_tasks.visit_reminders_daily() == 1
    assert crm_tasks.visit_reminders_daily() == 0
    (reminder,) = texts(order, "day_before")
    assert f"预计{hhmm(order.promised_start)}至{hhmm(order.promised_end)}到达" in reminder.body
    assert texts(later, "day_before") == []


def _overrunning_day(zhang, *, service_minutes=60):
    """Zhang on site at A since ``t0`` for a one-hour job; B planned right after it."""
    t0 = timezone.now()
    first = order_at(SITE_A, phone="+8613800139007", service_minutes=service_minutes)
    first = assign(first, zhang, t0)
    travel = travel_minutes(Location(*SITE_A), Location(*SITE_B), at=t0)
    second = order_at(SITE_B, phone="+8613800139008")
    second = assign(second, zhang, t0 + dt.timedelta(minutes=service_minutes + travel), position=2)
    wo_services.work_order_transition(work_order_id=first.pk, to_status=Status.EN_ROUTE, device_time=t0)
    wo_services.work_order_transition(work_order_id=first.pk, to_status=Status.ON_SITE, device_time=t0)
    return t0, first, second, travel


def test_a_job_overrunning_by_50_minutes_tells_the_next_customer_once_or_twice_before_the_window_ends(zhang):
    t0, _, second, travel = _overrunning_day(zhang)
    assert travel > 5
    second.refresh_from_db()
    # The phone reports every 5 minutes while the job runs 50 minutes over.
    for minute in range(0, 111, 5):
        wo_services.work_order_eta_check(
            technician_id=zhang.pk, reason="location report", now=t0 + dt.timedelta(minutes=minute)
        )
    late = sms_events(second, "running_late")
    assert 1 <= len(late) <= 2
    first_late = late[0]
    assert dt.datetime.fromisoformat(first_late.data["checked_at"]) < second.promised_end
    eta = dt.datetime.fromisoformat(first_late.data["eta"])
    start, end = wo_services.eta_window(eta, travel=travel)
    assert start >= second.promised_end - dt.timedelta(minutes=5)  # no longer overlaps the promise
    body = texts(second, "running_late")[0].body
    assert f"预计{hhmm(start)}至{hhmm(end)}到达" in body
    assert "/t/" in body
    # Two texts at most, 15 minutes or more apart in what they tell.
    if len(late) == 2:
        assert dt.datetime.fromisoformat(late[1].data["window_start"]) - dt.datetime.fromisoformat(
            late[0].data["window_start"]
        ) >= dt.timedelta(minutes=15)
    assert CallbackTask.objects.filter(work_order=second).count() == 0


def test_never_more_than_two_running_late_texts_then_a_callback_task(zhang):
    t0, _, second, _ = _overrunning_day(zhang)
    for minute in range(0, 300, 5):
        wo_services.work_order_eta_check(
            technician_id=zhang.pk, reason="location report", now=t0 + dt.timedelta(minutes=minute)
        )
    assert len(texts(second, "running_late")) == 2
    second.refresh_from_db()
    assert second.promise_at_risk  # staff see it at once in the console's filter
    assert WorkOrderEvent.objects.filter(work_order=second, data__late_callback=1).count() == 1
    # The beat sweep opens one callback task for it, and only one however often it runs.
    assert visit_eta_sweep() >= 0
    assert visit_eta_sweep() >= 0
    (task,) = CallbackTask.objects.filter(work_order=second)
    assert task.kind == "running_late"
    assert "running late" in task.reason


def test_a_location_report_of_a_technician_stuck_on_the_way_sends_running_late(settings, zhang):
    settings.SMS_SIGNATURE = "Brand"
    order = order_at(SITE_B, phone="+8613800139009", language="en")
    order = assign(order, zhang, timezone.now() + dt.timedelta(minutes=20))
    now = timezone.now()
    wo_services.technician_report_location(technician=zhang, latitude=SITE_A[0], longitude=SITE_A[1], at=now)
    wo_services.work_order_transition(work_order_id=order.pk, to_status=Status.EN_ROUTE)
    assert texts(order, "running_late") == []
    # Two hours later the phone is still far away: the window told no longer holds.
    later = now + dt.timedelta(hours=2)
    far = (31.10, 121.30)
    wo_services.technician_report_location(technician=zhang, latitude=far[0], longitude=far[1], at=later)
    (late,) = texts(order, "running_late")
    assert "running late" in late.body
    assert late.status != SmsMessage.Status.SUPPRESSED  # urgent: not held for quiet hours
    assert WorkOrder.objects.get(pk=order.pk).status == Status.EN_ROUTE


def test_the_sweep_notices_a_job_running_over_without_any_phone_report(zhang):
    t0, _, second, _ = _overrunning_day(zhang)
    assert wo_services.work_orders_eta_sweep(now=t0 + dt.timedelta(minutes=5)) == 0
    assert wo_services.work_orders_eta_sweep(now=t0 + dt.timedelta(minutes=100)) == 1
    (late,) = sms_events(second, "running_late")
    assert late.data["trigger"] == "running over"


def test_a_replan_that_moves_the_next_visit_out_of_its_promise_sends_running_late(zhang):
    order = order_at(SITE_B, phone="+8613800139010")
    arrival = timezone.now() + dt.timedelta(minutes=30)
    order = assign(order, zhang, arrival)
    later = order.promised_end + dt.timedelta(minutes=30)
    done = wo_services.work_orders_retime(changes=[wo_services.Retiming(order.pk, 1, later, order.version)])
    assert done == [order.pk]
    wo_services.work_orders_retime_record(work_order_ids=done, reason="re-plan", actor_label="dispatch")
    (late,) = sms_events(order, "running_late")
    assert late.data["trigger"] == "re-plan: re-plan"
    start = dt.datetime.fromisoformat(late.data["window_start"])
    assert start >= order.promised_end
    assert f"预计{hhmm(start)}至" in texts(order, "running_late")[0].body
