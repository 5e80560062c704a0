"""Promises: the window a customer is told, kept by re-plans or flagged with the reason; plans that
never silently move an order; one job in progress per technician; re-plans that survive bad data
and changes made while they solve; ETAs from where the technician really is."""

import datetime as dt

import pytest
from django.utils import timezone, translation

from dispatch.model import Location
from notifications.gateways import memory
from server.common.exceptions import NotFound, ValidationFailed
from server.common.travel import travel_minutes
from server.customers.models import Customer, Site
from server.scheduling import changes, services
from server.workorders import services as wo_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent
from server.workorders.services import JobInProgress
from tests import factories

pytestmark = pytest.mark.django_db


def order_at(lat, lon, *, phone, skill="water_purifier", **kwargs):
    customer = Customer.objects.create(name=f"c{phone[-3:]}", phone=phone)
    site = Site.objects.create(customer=customer, address=f"addr {phone}", latitude=lat, longitude=lon)
    return wo_services.work_order_create(
        customer=customer,
        site=site,
        problem="leak",
        required_skill=factories.skill(skill),
        service_minutes=45,
        **kwargs,
    )


def dispatched(*args, **kwargs):
    order = order_at(*args, **kwargs)
    return services.work_order_dispatch(work_order_id=order.pk)


def kinds(order):
    return list(WorkOrderEvent.objects.filter(work_order=order).values_list("kind", flat=True))


def test_the_first_planned_arrival_becomes_a_promised_window(settings):
    settings.PROMISE_WINDOW_MINUTES = 60
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139001")
    assert order.status == Status.SCHEDULED
    assert order.technician == zhang
    assert order.promised_start <= order.planned_arrival <= order.promised_end
    assert order.promised_end - order.promised_start == dt.timedelta(minutes=60)
    assert timezone.localtime(order.promised_start).minute % 15 == 0
    assert order.promised_technician == zhang
    promise = WorkOrderEvent.objects.get(work_order=order, kind=EventKind.PROMISE)
    assert promise.data["outcome"] == "promised"


def test_the_customers_own_window_is_the_promise():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(hours=3)
    order = dispatched(
        31.24, 121.48, phone="+8613800139002", window_start=start, window_end=start + dt.timedelta(hours=2)
    )
    assert (order.promised_start, order.promised_end) == (start, start + dt.timedelta(hours=2))
    assert start <= order.planned_arrival <= start + dt.timedelta(hours=2)


def test_a_replan_that_moves_an_order_to_another_technician_says_so_with_the_reason():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139003")
    assert order.technician == zhang
    wang = factories.technician(name="王磊", lat=31.25, lon=121.49)
    zhang.active = False  # off sick: the re-plan must move the order
    zhang.save(update_fields=["active"])
    summary = services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    assert order.technician == wang
    assert summary.stale == []
    moved = WorkOrderEvent.objects.get(work_order=order, kind=EventKind.MOVED)
    assert moved.text.startswith("re-plan: 张伟 ")
    assert " → 王磊 " in moved.text
    assert moved.data["previous_technician_id"] == zhang.pk


def test_a_replan_keeps_the_arrival_inside_the_promised_window():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139004")
    later = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(hours=4)
    locked = WorkOrder.objects.get(pk=order.pk)
    wo_services.work_order_promise(
        work_order=locked,
        start=later,
        end=later + dt.timedelta(minutes=30),
        reason="the customer is out until then",
        outcome="rescheduled",
    )
    services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    # Travel and waiting alone would bring the technician at once; the promise holds them back.
    assert later <= order.planned_arrival <= later + dt.timedelta(minutes=30)
    assert not order.promise_at_risk


def test_a_promise_that_can_no_longer_be_kept_is_flagged_with_the_reason():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139005")
    past = timezone.now() - dt.timedelta(hours=3)
    wo_services.work_order_promise(
        work_order=WorkOrder.objects.get(pk=order.pk),
        start=past,
        end=past + dt.timedelta(hours=1),
        reason="test: promised this morning",
    )
    summary = services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    assert order.promise_at_risk
    assert "promised" in order.promise_risk_reason
    assert any(line.startswith(order.reference) for line in summary.promises_at_risk)
    risk = WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.PROMISE).last()
    assert risk.data["outcome"] == "promise_at_risk"


def test_a_second_on_my_way_is_refused_while_another_job_is_in_progress():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    first = dispatched(31.24, 121.48, phone="+8613800139006")
    second = dispatched(31.25, 121.49, phone="+8613800139007")
    assert first.technician == second.technician == zhang
    now = timezone.now()
    wo_services.work_order_technician_event(
        technician=zhang, client_event_id="a", work_order_id=first.pk, action="on_my_way", device_time=now
    )
    with pytest.raises(JobInProgress) as refused:
        wo_services.work_order_technician_event(
            technician=zhang, client_event_id="b", work_order_id=second.pk, action="on_my_way", device_time=now
        )
    assert refused.value.status_code == 409
    assert first.reference in refused.value.message
    second.refresh_from_db()
    assert second.status == Status.SCHEDULED
    assert len([m for m in memory.sent if m.to == second.customer.phone]) == 0


def test_a_replan_plans_everything_else_when_a_technician_has_two_jobs_on_the_way():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    factories.technician(name="王磊", lat=31.25, lon=121.49)
    orders = [dispatched(31.22 + i / 100, 121.46, phone=f"+86138001391{i:02d}") for i in range(4)]
    on_zhang = orders[:2]
    # Data as older code or a hand edit left it: two orders on the way for one technician.
    WorkOrder.objects.filter(pk__in=[o.pk for o in on_zhang]).update(status=Status.EN_ROUTE, technician=zhang)
    summary = services.day_replan(time_limit_s=1.0, workers=1)
    assert summary.violations == []
    assert len(summary.inconsistencies) == 1
    assert "in progress" in summary.inconsistencies[0]
    rest = [o for o in orders if o not in on_zhang]
    assert all(WorkOrder.objects.get(pk=o.pk).status == Status.SCHEDULED for o in rest)


def test_orders_cancelled_while_a_replan_solves_are_skipped_and_the_rest_applies(monkeypatch):
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    factories.technician(name="王磊", lat=31.25, lon=121.49)
    orders = [order_at(31.20 + i / 100, 121.45 + i / 200, phone=f"+86138001392{i:02d}") for i in range(8)]
    real_solve = services.solve
    staff = factories.staff()

    def solve_while_staff_cancel(*args, **kwargs):
        for order in orders[:3]:
            changes.work_order_cancel(work_order_id=order.pk, reason="customer fixed it", actor=staff)
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(services, "solve", solve_while_staff_cancel)
    summary = services.day_replan(time_limit_s=1.0, workers=1)
    assert sorted(summary.stale) == sorted(
        f"{o.reference}: the order changed since the plan was made" for o in orders[:3]
    )
    for order in orders[:3]:
        assert WorkOrder.objects.get(pk=order.pk).status == Status.CANCELLED
    for order in orders[3:]:
        assert WorkOrder.objects.get(pk=order.pk).status == Status.SCHEDULED


def test_the_on_my_way_eta_starts_at_the_job_just_finished_not_at_home():
    # Home is far out of town; the phone's last position is a day old.
    zhang = factories.technician(name="张伟", lat=31.40, lon=121.70)
    zhang.last_latitude, zhang.last_longitude = 31.40, 121.70
    zhang.last_located_at = timezone.now() - dt.timedelta(days=1)
    zhang.save()
    first = dispatched(31.20, 121.44, phone="+8613800139301")
    second = dispatched(31.21, 121.45, phone="+8613800139302")
    assert first.technician == second.technician == zhang
    now = timezone.now()
    for n, (order, action) in enumerate(
        [(first, "on_my_way"), (first, "arrived"), (first, "done"), (second, "on_my_way")]
    ):
        wo_services.work_order_technician_event(
            technician=zhang,
            client_event_id=f"e{n}",
            work_order_id=order.pk,
            action=action,
            device_time=now + dt.timedelta(seconds=n),
        )
    sms = WorkOrderEvent.objects.filter(work_order=second, kind=EventKind.SMS).last()
    expected = travel_minutes(Location(31.20, 121.44), Location(31.21, 121.45), at=timezone.now())
    from_home = travel_minutes(Location(31.40, 121.70), Location(31.21, 121.45), at=timezone.now())
    assert sms.data["eta_minutes"] == expected != from_home


@translation.override("en")  # the refusal's English words
def test_taps_with_a_clock_in_the_future_or_going_backwards_are_refused():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139401")
    now = timezone.now()
    with pytest.raises(ValidationFailed, match="ahead of the server"):
        wo_services.work_order_technician_event(
            technician=zhang,
            client_event_id="f",
            work_order_id=order.pk,
            action="on_my_way",
            device_time=now + dt.timedelta(days=2),
        )
    wo_services.work_order_technician_event(
        technician=zhang, client_event_id="g", work_order_id=order.pk, action="on_my_way", device_time=now
    )
    with pytest.raises(ValidationFailed, match="older than the order's previous tap"):
        wo_services.work_order_technician_event(
            technician=zhang,
            client_event_id="h",
            work_order_id=order.pk,
            action="arrived",
            device_time=now - dt.timedelta(minutes=10),
        )
    assert WorkOrder.objects.get(pk=order.pk).status == Status.EN_ROUTE


@translation.override("en")  # the refusal's English words
def test_could_not_complete_puts_the_order_on_hold_with_a_follow_up():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139501")
    now = timezone.now()
    wo_services.work_order_technician_event(
        technician=zhang, client_event_id="i", work_order_id=order.pk, action="arrived", device_time=now
    )
    with pytest.raises(ValidationFailed, match="Say why"):
        wo_services.work_order_technician_event(
            technician=zhang, client_event_id="j", work_order_id=order.pk, action="could_not_complete", device_time=now
        )
    wo_services.work_order_technician_event(
        technician=zhang,
        client_event_id="k",
        work_order_id=order.pk,
        action="could_not_complete",
        device_time=now,
        reason="needs_parts",
        note="compressor",
    )
    order.refresh_from_db()
    assert order.status == Status.ON_HOLD
    assert order.technician is None
    assert order.hold_reason == "Could not complete: needs parts — compressor"
    assert order.follow_up_on == timezone.localdate() + dt.timedelta(days=1)
    assert WorkOrderEvent.objects.filter(
        work_order=order, kind=EventKind.PROMISE, data__outcome="promise_withdrawn"
    ).exists()


@translation.override("en")  # the refusal's English words
def test_a_tap_on_an_order_reassigned_meanwhile_answers_like_a_missing_one():
    """The API checked the order was theirs; the service finds it reassigned under its lock."""
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    li = factories.technician(name="李强", lat=31.30, lon=121.60)
    order = dispatched(31.24, 121.48, phone="+8613800139008")
    assert order.technician == zhang
    with pytest.raises(NotFound) as refused:
        wo_services.work_order_technician_event(
            technician=li, client_event_id="c", work_order_id=order.pk, action="on_my_way", device_time=timezone.now()
        )
    assert refused.value.status_code == 404
    assert refused.value.message == f"Work order {order.pk} does not exist"
