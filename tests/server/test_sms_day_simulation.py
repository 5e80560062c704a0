"""A technician's evening, simulated minute by minute with a controlled clock: the first job runs
50 minutes over. The next customer is told booked, running late (once or twice, before their
promised window ends), on my way and arrived; an opted-out customer is told nothing; a text that
is not about a visit under way waits for the morning rather than going out between 21:00 and
08:00."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from notifications.models import SmsMessage
from notifications.services import sms_opt_out
from server.workorders import services as wo_services
from server.workorders.models import Status
from tests.server.test_customer_texts import SITE_A, SITE_B, assign, order_at, texts

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT_ONCE = {"on_my_way", "running_late", "arrived"}  # about a visit under way: sent even at night


@pytest.fixture
def clock(monkeypatch, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    now = [dt.datetime.now(SHANGHAI).replace(hour=18, minute=0, second=0, microsecond=0)]
    monkeypatch.setattr(timezone, "now", lambda: now[0].astimezone(dt.UTC))

    def advance(minutes: int = 0) -> dt.datetime:
        now[0] += dt.timedelta(minutes=minutes)
        return now[0].astimezone(dt.UTC)

    return advance


def test_an_overrunning_evening(clock, settings):
    from tests import factories

    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    t0 = clock()
    first = assign(order_at(SITE_A, phone="+8613800139201"), zhang, t0 + dt.timedelta(minutes=15))
    second = assign(order_at(SITE_B, phone="+8613800139202"), zhang, t0 + dt.timedelta(minutes=95), position=2)
    sms_opt_out(phone="+8613800139203", source="sms", keyword="退订")
    third = assign(order_at(SITE_A, phone="+8613800139203"), zhang, t0 + dt.timedelta(minutes=200), position=3)
    second.refresh_from_db()
    promised_end = second.promised_end

    # The first job: on the way at 18:00, on site 18:15, an hour's work that takes 110 minutes;
    # the phone reports its position every 5 minutes meanwhile.
    wo_services.work_order_transition(work_order_id=first.pk, to_status=Status.EN_ROUTE, device_time=clock())
    wo_services.work_order_transition(work_order_id=first.pk, to_status=Status.ON_SITE, device_time=clock(15))
    for _ in range(22):
        wo_services.work_order_eta_check(technician_id=zhang.pk, reason="location report", now=clock(5))
    wo_services.work_order_transition(work_order_id=first.pk, to_status=Status.COMPLETED, device_time=clock())
    # To the second customer, there, done; then the opted-out third customer's visit.
    wo_services.work_order_transition(work_order_id=second.pk, to_status=Status.EN_ROUTE, device_time=clock(1))
    wo_services.work_order_transition(work_order_id=second.pk, to_status=Status.ON_SITE, device_time=clock(20))
    wo_services.work_order_transition(work_order_id=second.pk, to_status=Status.COMPLETED, device_time=clock(60))
    finished_at = timezone.localtime(clock())
    wo_services.work_order_transition(work_order_id=third.pk, to_status=Status.EN_ROUTE, device_time=clock(1))
    wo_services.work_order_transition(work_order_id=third.pk, to_status=Status.ON_SITE, device_time=clock(15))
    wo_services.work_order_transition(work_order_id=third.pk, to_status=Status.COMPLETED, device_time=clock(60))

    told = [message.kind for message in texts(second)]
    assert told[0] == "booked"
    assert 1 <= told.count("running_late") <= 2
    assert told[-3:] == ["on_my_way", "arrived", "completed"]
    # Told before the promised window ended (a later slip may be told after it).
    assert texts(second, "running_late")[0].created_at < promised_end

    # Nothing at all reached the opted-out number: every text is kept, suppressed, with the reason.
    to_third = texts(third)
    assert to_third
    assert {message.status for message in to_third} == {SmsMessage.Status.SUPPRESSED}
    assert all(message.error.startswith("opted_out") for message in to_third)

    # Nothing between 21:00 and 08:00 unless it is about a visit under way.
    assert finished_at.hour >= 21 or finished_at.hour < 8  # the evening did run into the night
    for message in SmsMessage.objects.exclude(status=SmsMessage.Status.SUPPRESSED):
        goes_at = timezone.localtime(message.not_before or message.created_at, SHANGHAI)
        if message.kind not in AT_ONCE:
            assert 8 <= goes_at.hour < 21, (message.kind, goes_at)
    completed = texts(second, "completed")[0]
    assert timezone.localtime(completed.not_before, SHANGHAI).hour == 8  # the rating request waits for 08:00
