"""Data protection: a customer's data on request, erasure that keeps the statistics, retention."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.apps import apps as django_apps
from django.db import models
from django.utils import timezone

from notifications.models import InboundSms, SmsMessage
from server.accounts.models import Role
from server.care.models import CallbackTask, ComplaintRecord, ConsentRecord, CustomerNote, WorkOrderRating
from server.common.exceptions import PermissionDenied, ValidationFailed
from server.common.models import AuditAction, AuditEntry
from server.crm.services.privacy import PURGED, customer_data_export, customer_erase, retention_purge
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallRecord
from server.technicians.models import TechnicianLocation
from server.workorders.models import Status, WorkOrder, WorkOrderEvent
from tests import factories

pytestmark = pytest.mark.django_db

NAME = "欧阳娜娜"
PHONE = "+8613912345678"
NATIONAL = "13912345678"
ADDRESS = "上海市徐汇区漕溪北路88号"


def _customer_with_history() -> Customer:
    customer = factories.customer(name=NAME, phone=PHONE, address=ADDRESS)
    Customer.objects.filter(pk=customer.pk).update(
        notes=f"{NAME} prefers mornings", complaint_reason=f"{NAME} was angry", consent_reminders=True
    )
    site = customer.sites.get()
    Site.objects.filter(pk=site.pk).update(access_notes=f"Ask for {NAME} at gate 3")
    Site.objects.create(customer=customer, address=f"{ADDRESS} 2号楼", latitude=31.2, longitude=121.4)
    equipment = site.equipment.get()
    Equipment.objects.filter(pk=equipment.pk).update(serial_number="SN-998877")
    done = WorkOrder.objects.create(
        customer=customer, site=site, equipment=equipment, problem=f"{NAME} ({PHONE}): leaking", status=Status.COMPLETED
    )
    WorkOrderEvent.objects.create(
        work_order=done, kind="note", text=f"Called {NATIONAL} at {ADDRESS}", data={"phone": PHONE}
    )
    open_order = WorkOrder.objects.create(customer=customer, site=site, problem="noisy", hold_reason=f"{NAME} away")
    call = CallRecord.objects.create(
        provider="cti", call_id="c1", caller_raw=NATIONAL, caller_phone=PHONE, reason=f"{NAME} says it leaks",
        customer=customer, work_order=open_order, payload={"from": PHONE, "name": NAME},
    )  # fmt: skip
    CallbackTask.objects.create(customer=customer, call=call, phone=PHONE, caller_raw=NATIONAL, reason=f"call {NAME}")
    SmsMessage.objects.create(
        to=PHONE, body=f"{NAME}, the technician is on the way to {ADDRESS}", language="zh-CN", kind="on_my_way",
        provider="memory", customer_id=customer.pk, work_order_id=open_order.pk,
    )  # fmt: skip
    CustomerNote.objects.create(customer=customer, work_order=open_order, text=f"{NAME} will be home after 6")
    ComplaintRecord.objects.create(
        customer=customer, work_order=open_order, action="raised", source="call", reason=f"{NAME}: 太差劲了",
        words=["太差劲了", NAME],
    )  # fmt: skip
    WorkOrderRating.objects.create(
        work_order=done, stars=2, comment=f"{NAME} says the technician was late", source="sms"
    )
    ConsentRecord.objects.create(
        customer=customer, kind="reminders", given=True, at=timezone.now(), source="phone", note=f"{NAME} said yes"
    )
    return customer


def _texts(instance: models.Model) -> list[str]:
    """Every text (and JSON, as text) field's value of one row."""
    values = []
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(field, models.JSONField):
            values.append(json.dumps(value, ensure_ascii=False))
        elif isinstance(value, str):
            values.append(value)
    return values


def _rows_of(customer_id: int) -> list[models.Model]:
    """The customer's rows in every table that points at the customer, a site or an order (the
    audit log aside: it names the customer's id, never their data), and their SMS."""
    owners = {Customer: "", Site: "__customer", Equipment: "__site__customer", WorkOrder: "__customer"}
    rows: list[models.Model] = list(Customer.objects.filter(pk=customer_id))
    for model in django_apps.get_models():
        if model is AuditEntry:
            continue
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in owners:
                lookup = field.name + owners[field.related_model]
                rows.extend(model.objects.filter(**{lookup: customer_id}))
    rows.extend(SmsMessage.objects.filter(customer_id=customer_id))
    return list({(type(row), row.pk): row for row in rows}.values())


def test_erasing_leaves_no_personal_data_and_keeps_the_order_counts():
    customer = _customer_with_history()
    supervisor = factories.user(role=Role.SUPERVISOR)
    statuses_before = sorted(WorkOrder.objects.filter(customer=customer).values_list("status", flat=True))
    assert any(NAME in text for row in _rows_of(customer.pk) for text in _texts(row))  # the probe finds it
    erased = customer_erase(customer=customer, user=supervisor, reason="customer's request by phone")
    assert erased.erased_at is not None
    rows = _rows_of(customer.pk)
    # Every row is still there: customer, 2 sites, equipment, 2 orders, event, call, callback
    # task, SMS, note, complaint, rating, consent.
    assert len(rows) == 14
    leaks = [
        (type(row).__name__, text)
        for row in rows
        for text in _texts(row)
        if any(secret in text for secret in (NAME, PHONE, NATIONAL, ADDRESS, "SN-998877"))
    ]
    assert leaks == []
    assert sorted(WorkOrder.objects.filter(customer=customer).values_list("status", flat=True)) == statuses_before
    assert WorkOrder.objects.filter(customer=customer, equipment__equipment_type="water_purifier").count() == 1
    assert all(site.latitude is None and site.longitude is None for site in Site.objects.filter(customer=customer))
    erased.refresh_from_db()
    assert erased.phone is None
    assert not erased.consent_reminders
    entry = AuditEntry.objects.get(action=AuditAction.ERASED)
    assert entry.customer_id == customer.pk
    assert entry.user == supervisor


def test_the_erased_phone_can_be_a_new_customer():
    customer = _customer_with_history()
    customer_erase(customer=customer, user=factories.user(role=Role.ADMIN), reason="request")
    assert factories.customer(phone=PHONE).pk != customer.pk


def test_erasure_needs_a_supervisor_and_a_reason():
    customer = _customer_with_history()
    with pytest.raises(PermissionDenied):
        customer_erase(customer=customer, user=factories.staff(), reason="request")
    with pytest.raises(ValidationFailed):
        customer_erase(customer=customer, user=factories.user(role=Role.SUPERVISOR), reason="  ")
    customer.refresh_from_db()
    assert customer.name == NAME
    assert customer.erased_at is None
    assert not AuditEntry.objects.filter(action=AuditAction.ERASED).exists()


def test_the_data_export_holds_everything_and_is_audited():
    customer = _customer_with_history()
    admin = factories.user(role=Role.ADMIN)
    data = customer_data_export(customer=customer, user=admin)
    json.dumps(data)  # JSON-able
    assert data["customer"]["name"] == NAME
    assert data["customer"]["phone"] == PHONE
    assert data["consent"] == {"service_sms": True, "reminders": True, "marketing": False}
    assert {site["address"] for site in data["sites"]} == {ADDRESS, f"{ADDRESS} 2号楼"}
    assert data["equipment"][0]["serial_number"] == "SN-998877"
    assert len(data["work_orders"]) == 2
    assert [e["text"] for o in data["work_orders"] for e in o["events"]] == [f"Called {NATIONAL} at {ADDRESS}"]
    assert data["calls"][0]["reason"] == f"{NAME} says it leaks"
    assert data["callback_tasks"][0]["phone"] == PHONE
    assert data["sms"][0]["body"].startswith(NAME)
    assert data["notes"][0]["text"].startswith(NAME)
    assert data["complaints"][0]["reason"].startswith(NAME)
    assert data["ratings"][0]["stars"] == 2
    assert data["consent_history"][0]["note"] == f"{NAME} said yes"
    entry = AuditEntry.objects.get(action=AuditAction.EXPORTED)
    assert entry.customer_id == customer.pk
    assert entry.user == admin


def test_the_data_export_is_refused_for_agents_and_technicians():
    customer = _customer_with_history()
    for user in (factories.staff(), factories.technician().user, factories.user(role=Role.DISPATCHER)):
        with pytest.raises(PermissionDenied):
            customer_data_export(customer=customer, user=user)
    assert not AuditEntry.objects.exists()


def test_retention_purges_old_payloads_and_bodies_once(settings):
    settings.RETENTION_DAYS = 365
    customer = _customer_with_history()
    now = timezone.now()
    old = now - dt.timedelta(days=366)
    new_call = CallRecord.objects.create(provider="cti", call_id="c2", payload={"from": PHONE})
    CallRecord.objects.filter(call_id="c1").update(created_at=old)
    sent = SmsMessage.objects.get()
    SmsMessage.objects.filter(pk=sent.pk).update(status="sent", sent_at=old, created_at=old)
    queued = SmsMessage.objects.create(to=PHONE, body="old but unsent", language="en", kind="other", provider="memory")
    SmsMessage.objects.filter(pk=queued.pk).update(created_at=old)
    recent = SmsMessage.objects.create(to=PHONE, body="recent", language="en", kind="other", provider="memory")
    recent_sent = SmsMessage.objects.filter(pk=recent.pk)
    recent_sent.update(status="sent", sent_at=now)

    result = retention_purge(now=now)
    assert (result.call_payloads, result.sms_bodies) == (1, 1)
    assert CallRecord.objects.get(call_id="c1").payload == {}
    assert CallRecord.objects.get(pk=new_call.pk).payload == {"from": PHONE}
    assert SmsMessage.objects.get(pk=sent.pk).body == PURGED
    assert SmsMessage.objects.get(pk=queued.pk).body == "old but unsent"
    assert SmsMessage.objects.get(pk=recent.pk).body == "recent"
    again = retention_purge(now=now)
    assert (again.call_payloads, again.sms_bodies) == (0, 0)
    assert Customer.objects.get(pk=customer.pk).name == NAME  # retention is not erasure


def test_the_retention_task_runs_the_service(settings):
    settings.RETENTION_DAYS = 30
    CallRecord.objects.create(provider="cti", call_id="old", payload={"x": 1})
    CallRecord.objects.update(created_at=timezone.now() - dt.timedelta(days=31))
    from server.crm.tasks import retention_purge as task

    assert task.apply().get() == {"call_payloads": 1, "sms_bodies": 0, "positions": 0}


def test_retention_deletes_the_technicians_old_positions(settings):
    settings.LOCATION_RETENTION_DAYS = 30
    technician = factories.technician(name="张伟")
    now = timezone.now()
    for n, age in enumerate((31, 29, 0)):
        TechnicianLocation.objects.create(
            technician=technician,
            client_event_id=f"p{n}",
            device_time=now - dt.timedelta(days=age),
            latitude=31.2,
            longitude=121.4,
        )
    assert retention_purge(now=now).positions == 1
    assert sorted(TechnicianLocation.objects.values_list("client_event_id", flat=True)) == ["p1", "p2"]
    assert retention_purge(now=now).positions == 0


def test_erasing_clears_the_customers_text_replies_and_retention_purges_old_ones(settings):
    settings.RETENTION_DAYS = 365
    customer = _customer_with_history()
    now = timezone.now()
    reply = InboundSms.objects.create(
        provider="twilio", provider_message_id="SM1", from_phone=PHONE, body=f"我是{NAME}，师傅到哪了", received_at=now
    )
    old = InboundSms.objects.create(
        provider="twilio", provider_message_id="SM2", from_phone="+8613911112222", body="old reply",
        received_at=now - dt.timedelta(days=400),
    )  # fmt: skip
    customer_erase(customer=customer, user=factories.user(role=Role.SUPERVISOR), reason="request")
    reply.refresh_from_db()
    assert NAME not in reply.body
    assert reply.from_phone == ""
    assert retention_purge(now=now).sms_bodies >= 1
    old.refresh_from_db()
    assert old.body == PURGED
