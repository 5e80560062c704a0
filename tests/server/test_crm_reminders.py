"""Maintenance reminders: staged, once per stage, only with consent; a click books the visit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from notifications.models import SmsMessage
from server.common.exceptions import PermissionDenied
from server.crm.models import Reminder, ServiceInterval
from server.crm.selectors import customers_dormant, reminders_open
from server.crm.services.reminders import add_months, reminder_order_create, reminders_queue
from server.crm.tasks import reminders_daily
from server.customers.models import Customer, Equipment
from server.workorders.event_text import event_sentence
from server.workorders.models import EventKind, Source, Status, WorkOrder, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db

INSTALLED = dt.date(2024, 1, 1)  # the factory's water purifier: 24 months → due 2026-01-01
DUE = dt.date(2026, 1, 1)


def _consenting(**kwargs: object) -> Customer:
    customer = factories.customer(**kwargs)  # type: ignore[arg-type]
    Customer.objects.filter(pk=customer.pk).update(consent_reminders=True)
    customer.refresh_from_db()
    return customer


def test_the_seed_has_the_intervals_the_issue_names():
    intervals = dict(ServiceInterval.objects.values_list("equipment_type", "months"))
    assert intervals["water_purifier"] == 24
    assert intervals["air_conditioner"] == 12
    assert {"washing_machine", "hvac", "water_heater"} <= set(intervals)


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month():
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2024, 11, 15), 3) == dt.date(2025, 2, 15)
    assert add_months(dt.date(2025, 3, 10), -12) == dt.date(2024, 3, 10)


def test_each_stage_is_sent_once_across_repeated_runs_and_days():
    customer = _consenting()
    days = [
        DUE - dt.timedelta(days=45),  # too early: nothing
        DUE - dt.timedelta(days=30),  # 30-day stage
        DUE - dt.timedelta(days=30),  # the same day again
        DUE - dt.timedelta(days=20),  # still the 30-day stage: already sent
        DUE - dt.timedelta(days=7),  # 7-day stage
        DUE - dt.timedelta(days=3),
        DUE,  # overdue
        DUE + dt.timedelta(days=5),
    ]
    sent_per_day = [[r.stage for r in reminders_queue(today=day)] for day in days]
    assert sent_per_day == [[], ["30d"], [], [], ["7d"], [], ["overdue"], []]
    assert sorted(Reminder.objects.values_list("stage", flat=True)) == ["30d", "7d", "overdue"]
    assert set(Reminder.objects.values_list("due_date", flat=True)) == {DUE}
    messages = list(SmsMessage.objects.order_by("id"))
    assert len(messages) == 3
    assert {m.to for m in messages} == {customer.phone}
    assert all(m.customer_id == customer.pk and m.kind == SmsMessage.Kind.REMINDER for m in messages)
    assert all(m.body.startswith("【品牌】") and "1" in m.body and DUE.isoformat() in m.body for m in messages)
    assert [r.sms_id for r in Reminder.objects.order_by("id")] == [m.pk for m in messages]


def test_a_late_first_run_sends_only_the_current_stage():
    _consenting()
    assert [r.stage for r in reminders_queue(today=DUE - dt.timedelta(days=2))] == ["7d"]
    assert Reminder.objects.count() == 1


def test_the_text_follows_the_customer_language(settings):
    settings.SMS_SIGNATURE, settings.SMS_SIGNATURE_EN = "品牌", "Brand"
    _consenting(language="en", phone="+8613800138002")
    reminders_queue(today=DUE - dt.timedelta(days=30))
    body = SmsMessage.objects.get().body
    assert body.startswith("[Brand] Your ")  # signed as English texts are, not 【品牌】
    assert "Reply 1 or call us" in body
    assert "Water-purifier filter" in body


def test_chinese_customers_get_chinese_text():
    _consenting()
    reminders_queue(today=DUE - dt.timedelta(days=30))
    body = SmsMessage.objects.get().body
    assert "回复1" in body
    assert "Reply" not in body


def test_no_reminder_without_consent_or_phone_or_after_erasure():
    factories.customer(phone="+8613800138011")  # consent_reminders defaults to False
    erased = _consenting(phone="+8613800138012")
    Customer.objects.filter(pk=erased.pk).update(erased_at=timezone.now())
    no_phone = _consenting(phone="+8613800138013")
    Customer.objects.filter(pk=no_phone.pk).update(phone=None)
    for day in (DUE - dt.timedelta(days=30), DUE - dt.timedelta(days=7), DUE):
        assert reminders_queue(today=day) == []
    assert not SmsMessage.objects.exists()
    assert not Reminder.objects.exists()


def test_no_reminder_for_equipment_with_an_open_order():
    customer = _consenting()
    site = customer.sites.get()
    WorkOrder.objects.create(customer=customer, site=site, equipment=site.equipment.get(), problem="leak")
    assert reminders_queue(today=DUE - dt.timedelta(days=30)) == []


def test_the_next_service_counts_from_the_last_completed_order():
    customer = _consenting()
    site = customer.sites.get()
    equipment = site.equipment.get()
    order = WorkOrder.objects.create(
        customer=customer, site=site, equipment=equipment, problem="filter", status=Status.COMPLETED
    )
    event = WorkOrderEvent.objects.create(work_order=order, kind="status", from_status="on_site", to_status="completed")
    WorkOrderEvent.objects.filter(pk=event.pk).update(created_at=dt.datetime(2025, 6, 10, 12, tzinfo=dt.UTC))
    assert reminders_queue(today=DUE - dt.timedelta(days=30)) == []  # the install-date due is moot
    sent = reminders_queue(today=dt.date(2027, 6, 10) - dt.timedelta(days=30))
    assert [(r.stage, r.due_date) for r in sent] == [("30d", dt.date(2027, 6, 10))]


def test_other_types_use_their_own_interval():
    customer = _consenting()
    Equipment.objects.create(site=customer.sites.get(), equipment_type="air_conditioner", install_date=INSTALLED)
    sent = reminders_queue(today=dt.date(2025, 1, 1) - dt.timedelta(days=7))
    assert [(r.equipment.equipment_type, r.stage, r.due_date) for r in sent] == [
        ("air_conditioner", "7d", dt.date(2025, 1, 1))
    ]


def test_the_daily_task_runs_the_service(monkeypatch):
    _consenting()
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: DUE - dt.timedelta(days=30))
    assert reminders_daily.apply().get() == 1
    assert reminders_daily.apply().get() == 0


def test_a_click_creates_one_preventive_order():
    customer = _consenting()
    reminder = reminders_queue(today=DUE - dt.timedelta(days=7))[0]
    agent = factories.staff()
    assert list(reminders_open()) == [reminder]
    order = reminder_order_create(reminder_id=reminder.pk, actor=agent)
    again = reminder_order_create(reminder_id=reminder.pk, actor=agent)
    assert again.pk == order.pk
    assert WorkOrder.objects.count() == 1
    order.refresh_from_db()
    assert order.customer_id == customer.pk
    assert order.equipment_id == reminder.equipment_id
    assert order.site_id == reminder.equipment.site_id
    assert order.problem.startswith("Preventive maintenance:")
    assert order.source == Source.MANUAL
    assert order.required_skill is not None
    assert order.required_skill.code == "water_purifier"
    reminder.refresh_from_db()
    assert reminder.work_order_id == order.pk
    assert list(reminders_open()) == []
    created = order.events.get(kind=EventKind.CREATED)
    with translation.override("zh-hans"):
        assert event_sentence(created) == f"来自保养提醒 {reminder.pk}"


def test_a_technician_cannot_create_the_order():
    _consenting()
    reminder = reminders_queue(today=DUE - dt.timedelta(days=7))[0]
    tech = factories.technician()
    with pytest.raises(PermissionDenied):
        reminder_order_create(reminder_id=reminder.pk, actor=tech.user)
    assert not WorkOrder.objects.exists()


def test_dormant_customers_have_no_order_for_the_configured_months(settings):
    settings.DORMANT_MONTHS = 12
    now = timezone.now()
    silent = factories.customer(phone="+8613800138021", name="老客户")
    busy = factories.customer(phone="+8613800138022", name="常客")
    new = factories.customer(phone="+8613800138023", name="新客户")
    erased = factories.customer(phone="+8613800138024", name="已删除")
    old = now - dt.timedelta(days=400)
    for customer in (silent, busy, erased):
        order = WorkOrder.objects.create(customer=customer, problem="x")
        WorkOrder.objects.filter(pk=order.pk).update(created_at=old)
    WorkOrder.objects.create(customer=busy, problem="recent")
    Customer.objects.filter(pk__in=[silent.pk, busy.pk, erased.pk]).update(created_at=old)
    Customer.objects.filter(pk=erased.pk).update(erased_at=now)
    dormant = list(customers_dormant(now=now))
    assert [c.pk for c in dormant] == [silent.pk]
    assert dormant[0].order_count == 1
    assert new.pk not in {c.pk for c in customers_dormant(now=now)}
    assert {c.pk for c in customers_dormant(now=now + dt.timedelta(days=400))} == {silent.pk, busy.pk, new.pk}
