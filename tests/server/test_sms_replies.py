"""Customers' SMS replies: a rating, a complaint, "1" to book a reminder, "where are you?"
answered at once, anything else to the agents; every reply on the timeline and marked handled."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from notifications import services as sms_services
from notifications.models import InboundSms, SmsMessage
from server.care.models import CallbackTask, ComplaintRecord, CustomerNote, WorkOrderRating
from server.crm.models import Reminder, ReminderStage
from server.crm.replies import sms_reply_handle
from server.workorders import services as wo_services
from server.workorders.models import EventKind, Status, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)


def reply(phone, body):
    inbound = InboundSms.objects.create(
        provider="twilio",
        provider_message_id=f"SM{next(_ids)}",
        from_phone=phone,
        body=body,
        received_at=timezone.now(),
    )
    sms_reply_handle(inbound_id=inbound.pk)
    inbound.refresh_from_db()
    return inbound


@pytest.fixture
def visit():
    """A customer whose order is scheduled with 张伟 in an hour (the booked text went out)."""
    zhang = factories.technician(name="张伟", lat=31.2300, lon=121.4700)
    customer = factories.customer()
    order = wo_services.work_order_create(
        customer=customer,
        site=customer.sites.get(),
        problem="漏水",
        required_skill=factories.skill(),
    )
    arrival = timezone.now() + dt.timedelta(hours=1)
    order = wo_services.work_order_assign(
        work_order_id=order.pk,
        technician=zhang,
        day=timezone.localtime(arrival).date(),
        planned_arrival=arrival,
        route_position=1,
    )
    return {"customer": customer, "order": order, "zhang": zhang}


def finish(order):
    for status in (Status.EN_ROUTE, Status.ON_SITE, Status.COMPLETED):
        wo_services.work_order_transition(work_order_id=order.pk, to_status=status)


def reply_events(order):
    return list(WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.SMS, data__direction="in"))


def test_a_digit_after_the_completed_text_is_the_rating(visit):
    finish(visit["order"])
    inbound = reply(visit["customer"].phone, " 5 ")
    rating = WorkOrderRating.objects.get(work_order=visit["order"])
    assert (rating.stars, rating.source) == (5, "sms")
    assert inbound.handled_at is not None
    assert inbound.outcome == "rating 5"
    (event,) = reply_events(visit["order"])
    assert event.data["outcome"] == "rating 5"
    assert CallbackTask.objects.count() == 0


def test_a_low_rating_is_a_complaint(visit):
    finish(visit["order"])
    reply(visit["customer"].phone, "1")
    assert WorkOrderRating.objects.get(work_order=visit["order"]).stars == 1
    assert ComplaintRecord.objects.filter(customer=visit["customer"]).exists()


def test_complaint_words_raise_a_complaint_from_sms(visit):
    inbound = reply(visit["customer"].phone, "师傅迟到两个小时，我要投诉你们")
    record = ComplaintRecord.objects.get(customer=visit["customer"])
    assert record.source == "sms"
    visit["customer"].refresh_from_db()
    assert visit["customer"].complaint_open
    assert inbound.outcome == "complaint raised"
    assert "师傅迟到两个小时，我要投诉你们" in reply_events(visit["order"])[0].text


@pytest.mark.parametrize("question", ["师傅到哪了？", "几点到", "Where are you?", "ETA?"])
def test_where_are_you_is_answered_at_once_with_the_live_window_and_the_link(visit, question):
    inbound = reply(visit["customer"].phone, question)
    (answer,) = SmsMessage.objects.filter(kind="eta_answer")
    event = WorkOrderEvent.objects.get(work_order=visit["order"], kind=EventKind.SMS, data__sms_kind="eta_answer")
    start = dt.datetime.fromisoformat(event.data["window_start"])
    end = dt.datetime.fromisoformat(event.data["window_end"])
    assert f"{timezone.localtime(start):%H:%M}至{timezone.localtime(end):%H:%M}" in answer.body
    assert "/t/" in answer.body
    assert answer.status != SmsMessage.Status.SUPPRESSED
    # The plan says an hour from now: the answer does not promise it sooner.
    assert start >= visit["order"].planned_arrival - dt.timedelta(minutes=15)
    assert inbound.outcome.startswith("answered with ETA")
    assert CallbackTask.objects.count() == 0


def test_anything_else_waits_for_an_agent(visit):
    inbound = reply(visit["customer"].phone, "能不能顺便看看热水器")
    (task,) = CallbackTask.objects.all()
    assert task.customer == visit["customer"]
    assert task.work_order == visit["order"]
    assert "热水器" in task.reason
    assert inbound.outcome.startswith(f"callback task {task.pk}")
    assert len(reply_events(visit["order"])) == 1
    reply(visit["customer"].phone, "能不能顺便看看热水器")  # a second text is a second task
    assert CallbackTask.objects.count() == 2


def test_a_reply_is_handled_once(visit):
    inbound = reply(visit["customer"].phone, "在吗")
    sms_reply_handle(inbound_id=inbound.pk)
    assert CallbackTask.objects.count() == 1


def test_an_unknown_number_goes_to_the_agents_with_the_number():
    inbound = reply("+8613900000000", "你好")
    (task,) = CallbackTask.objects.all()
    assert task.customer is None
    assert task.caller_raw == "+8613900000000"
    assert inbound.outcome.startswith("unknown sender")


def test_a_customer_without_orders_gets_a_care_note():
    customer = factories.customer(phone="+8613800138009")
    reply(customer.phone, "你好，请问滤芯多少钱")
    note = CustomerNote.objects.get(customer=customer)
    assert "滤芯" in note.text
    assert note.author is None


def test_one_after_a_maintenance_reminder_books_it():
    factories.technician(name="王磊", lat=31.2300, lon=121.4700)
    customer = factories.customer(phone="+8613800138010")
    equipment = customer.sites.get().equipment.get()
    message = sms_services.sms_queue(
        to=customer.phone,
        body="【品牌】您的净水器该保养了，回复1预约",
        kind="reminder",
        language="zh-CN",
        customer_id=customer.pk,
    )
    reminder = Reminder.objects.create(
        equipment=equipment,
        customer=customer,
        due_date=timezone.localdate() + dt.timedelta(days=7),
        stage=ReminderStage.DAYS_7,
        sms_id=message.pk,
    )
    inbound = reply(customer.phone, "1")
    reminder.refresh_from_db()
    assert reminder.work_order is not None
    assert reminder.work_order.customer == customer
    assert f"booked as {reminder.work_order.reference}" in inbound.outcome
    assert WorkOrderRating.objects.count() == 0
    assert reply_events(reminder.work_order)[0].data["inbound_id"] == inbound.pk
