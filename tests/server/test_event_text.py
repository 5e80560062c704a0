"""A work order's events read in the console's language: the sentence is built from the event's
kind and data (``server.workorders.event_text``), the stored English text stays the record, and an
event that cannot be rendered (an old row without data) reads as its stored text."""

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from server.accounts.models import Role
from server.care import services as care_services
from server.console import selectors as console_selectors
from server.scheduling import changes, services
from server.workorders import event_text
from server.workorders import services as wo_services
from server.workorders.models import EventKind, Status, WorkOrder, WorkOrderEvent
from tests import factories
from tests.server.test_promises import dispatched

pytestmark = pytest.mark.django_db


def hhmm(moment):
    return f"{timezone.localtime(moment):%H:%M}"


def said(event):
    """The event's sentence in Chinese and in English."""
    with translation.override("zh-hans"):
        zh = event_text.event_sentence(event)
    with translation.override("en"):
        en = event_text.event_sentence(event)
    return zh, en


def event_of(order, kind, **filters):
    return WorkOrderEvent.objects.filter(work_order=order, kind=kind, **filters).order_by("id").last()


@pytest.fixture
def cti(settings):
    settings.CTI_WEBHOOK_TOKEN = "cti-secret"
    return {
        "zhang": factories.technician(name="张伟", lat=31.2300, lon=121.4600),
        "li": factories.technician(name="李强", lat=31.3000, lon=121.6000),
    }


def post_cti(client, body):
    return client.post(
        "/webhooks/cti/call", json.dumps(body), content_type="application/json", HTTP_X_FIXROUTE_TOKEN="cti-secret"
    )


def test_a_cti_call_reads_in_chinese_and_in_english(client, cti):
    factories.customer()
    assert post_cti(client, {"call_id": "cti-9", "caller": "138 0013 8001", "reason": "净水器漏水"}).status_code == 201
    order = WorkOrder.objects.get()
    arrival = hhmm(order.planned_arrival)
    window = f"{hhmm(order.promised_start)}–{hhmm(order.promised_end)}"

    created = event_of(order, EventKind.CREATED)
    assert created.text == "Call from +8613800138001 (call cti-9)"  # the record is unchanged
    assert said(created) == ("来电 +8613800138001（通话 cti-9）", "Call from +8613800138001 (call cti-9)")

    assigned = event_of(order, EventKind.ASSIGNED)
    assert said(assigned) == (
        f"已派给张伟，预计{arrival}到达（新工单）",
        f"Assigned to 张伟, arriving {arrival} (new order placed)",
    )
    assert said(assigned)[1] == assigned.text

    promise = event_of(order, EventKind.PROMISE, data__outcome="promised")
    assert said(promise) == (
        f"承诺时间 {window}（张伟）：新工单",
        f"Promised {window} (张伟): new order placed",
    )
    assert said(promise)[1] == promise.text

    why = event_of(order, EventKind.NOTE)
    assert why.text.startswith("Why: Chosen 张伟")
    zh, en = said(why)
    assert zh.startswith("派单理由：选择了 张伟：车程 ")
    assert f"{arrival} 到达" in zh
    assert "未选 李强：" in zh
    assert en.startswith("Why: 张伟 was chosen: ")
    assert f"arrives at {arrival}" in en
    assert "Not 李强: " in en

    # A second call joins the open order; the caller's own words stay as they said them.
    assert (
        post_cti(client, {"call_id": "cti-10", "caller": "13800138001", "reason": "还在漏"}).json()["outcome"]
        == "joined"
    )
    joined = event_of(order, EventKind.CALL)
    assert said(joined) == (
        "来电 +8613800138001 已并入此工单：还在漏",
        "Call from +8613800138001 joined this order: 还在漏",
    )
    assert said(joined)[1] == joined.text


def test_an_unidentified_caller_reads_in_both_languages(client, cti):
    assert post_cti(client, {"call_id": "cti-x", "caller": "anonymous"}).status_code == 201
    order = WorkOrder.objects.get()
    zh, en = said(event_of(order, EventKind.CREATED))
    assert zh == "来电 cti-x，来电者无法识别（来电号码 'anonymous'）"
    assert en == event_of(order, EventKind.CREATED).text
    callback = event_of(order, EventKind.CALL)
    zh, en = said(callback)
    assert zh.startswith("需要回电：")
    assert "'anonymous'" in zh
    assert en == callback.text


def test_staff_reschedule_hold_release_and_cancel_read_in_both_languages():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    staff = factories.staff()
    order = dispatched(31.24, 121.48, phone="+8613800139901")
    old_window = f"{hhmm(order.promised_start)}–{hhmm(order.promised_end)}"
    start = timezone.localtime(timezone.now() + dt.timedelta(days=1)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    changes.work_order_reschedule(
        work_order_id=order.pk,
        window_start=start,
        window_end=start + dt.timedelta(hours=2),
        reason="客户下午才在家",
        actor=staff,
    )
    off = event_of(order, EventKind.STATUS, to_status=Status.NEW)
    assert said(off) == ("已移出排程以便改期：客户下午才在家", "Taken off the plan to be rescheduled: 客户下午才在家")
    moved = event_of(order, EventKind.PROMISE, data__outcome="rescheduled")
    assert said(moved) == (
        f"承诺时间已改 {old_window} → 14:00–16:00：客户下午才在家",
        f"Promise changed {old_window} → 14:00–16:00: 客户下午才在家",
    )
    assert said(moved)[1] == moved.text

    changes.work_order_hold(work_order_id=order.pk, reason="等配件", actor=staff)
    hold = event_of(order, EventKind.STATUS, to_status=Status.ON_HOLD)
    assert said(hold) == ("已挂起：等配件", "On hold: 等配件")
    withdrawn = event_of(order, EventKind.PROMISE, data__outcome="promise_withdrawn")
    assert said(withdrawn) == (
        "已撤回承诺（14:00–16:00）：已挂起 — 已挂起：等配件",
        withdrawn.text,
    )

    changes.work_order_release(work_order_id=order.pk, actor=staff)
    release = event_of(order, EventKind.STATUS, from_status=Status.ON_HOLD)
    assert said(release) == ("已放回排程", "Released back to planning")

    changes.work_order_cancel(work_order_id=order.pk, reason="客户自己修好了", actor=staff)
    cancel = event_of(order, EventKind.STATUS, to_status=Status.CANCELLED)
    assert said(cancel) == ("已取消：客户自己修好了", "Cancelled: 客户自己修好了")


def test_technician_taps_read_in_both_languages():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139902")
    now = timezone.now()
    for n, action in enumerate(("on_my_way", "arrived", "done")):
        wo_services.work_order_technician_event(
            technician=zhang, client_event_id=f"t{n}", work_order_id=order.pk, action=action, device_time=now
        )
    rows = {e.to_status: said(e) for e in WorkOrderEvent.objects.filter(work_order=order, kind=EventKind.STATUS)}
    assert rows[Status.EN_ROUTE] == ("张伟已出发", "张伟 is on the way")
    assert rows[Status.ON_SITE] == ("张伟已到达现场", "张伟 arrived on site")
    assert rows[Status.COMPLETED] == ("张伟已完成工作", "张伟 finished the job")
    sms = event_of(order, EventKind.SMS)
    zh, en = said(sms)
    assert zh.startswith("短信已排队发送至 +8613800139902：")
    assert en == sms.text


def test_could_not_complete_reads_in_both_languages_with_the_note_as_typed():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139903")
    now = timezone.now()
    wo_services.work_order_technician_event(
        technician=zhang, client_event_id="c1", work_order_id=order.pk, action="arrived", device_time=now
    )
    wo_services.work_order_technician_event(
        technician=zhang,
        client_event_id="c2",
        work_order_id=order.pk,
        action="could_not_complete",
        device_time=now,
        reason="needs_parts",
        note="压缩机",
    )
    hold = event_of(order, EventKind.STATUS, to_status=Status.ON_HOLD)
    assert said(hold) == ("未能完成：需要配件 — 压缩机", "Could not complete: needs parts — 压缩机")
    assert said(hold)[1] == hold.text
    withdrawn = event_of(order, EventKind.PROMISE, data__outcome="promise_withdrawn")
    window = event_text.window_words(withdrawn.data["promised_start"], withdrawn.data["promised_end"])
    assert said(withdrawn) == (
        f"已撤回承诺（{window}）：已挂起 — 未能完成：需要配件 — 压缩机",
        f"Promise withdrawn ({window}): on hold — Could not complete: needs parts — 压缩机",
    )
    assert said(withdrawn)[1] == withdrawn.text


def test_a_promise_at_risk_reads_in_both_languages():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139910")
    past = timezone.now() - dt.timedelta(hours=3)
    wo_services.work_order_promise(
        work_order=WorkOrder.objects.get(pk=order.pk), start=past, end=past + dt.timedelta(hours=1), reason="测试"
    )
    services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    risk = event_of(order, EventKind.PROMISE, data__outcome="promise_at_risk")
    window = f"{hhmm(past)}–{hhmm(past + dt.timedelta(hours=1))}"
    zh, en = said(risk)
    assert zh.startswith(f"承诺可能无法兑现 — 计划 {hhmm(order.planned_arrival)}，承诺 {window}：")
    assert en == risk.text


def test_a_replan_move_reads_in_both_languages():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139904")
    before = hhmm(order.planned_arrival)
    factories.technician(name="王磊", lat=31.25, lon=121.49)
    zhang.active = False
    zhang.save(update_fields=["active"])
    services.day_replan(time_limit_s=1.0, workers=1)
    order.refresh_from_db()
    moved = event_of(order, EventKind.MOVED)
    after = hhmm(order.planned_arrival)
    assert said(moved) == (
        f"重新排程：张伟 {before} → 王磊 {after}",
        f"re-plan: 张伟 {before} → 王磊 {after}",
    )
    assert said(moved)[1] == moved.text


def test_a_pin_reads_in_both_languages(client):
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139905")
    changes.work_order_pin(work_order_id=order.pk, pinned=True, actor=factories.staff(), note="客户指定")
    pin = event_of(order, EventKind.PINNED)
    assert said(pin) == ("已固定给张伟（客户指定）", "Pinned to 张伟 (客户指定)")
    assert said(pin)[1] == pin.text


def test_an_old_event_without_data_reads_as_its_stored_text():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139906")
    old = [
        WorkOrderEvent.objects.create(work_order=order, kind=kind, text=f"old {kind} text", data={})
        for kind in EventKind.values
    ]
    old.append(
        WorkOrderEvent.objects.create(
            work_order=order, kind=EventKind.STATUS, from_status="new", to_status="scheduled", text="Assigned by Bob"
        )
    )
    old.append(WorkOrderEvent.objects.create(work_order=order, kind=EventKind.ASSIGNED, text="x", data={"odd": [1]}))
    old.append(
        WorkOrderEvent.objects.create(
            work_order=order, kind=EventKind.PROMISE, text="y", data={"outcome": "promised", "technician": "张伟"}
        )
    )
    for event in old:
        assert said(event) == (event.text, event.text)


def test_a_plain_status_change_reads_with_the_status_words():
    event = WorkOrderEvent(
        kind=EventKind.STATUS, from_status=Status.SCHEDULED, to_status=Status.EN_ROUTE, text="Scheduled → En route"
    )
    assert said(event) == (event.text, event.text)  # not the default text of this change: as stored
    event.text = f"{Status.SCHEDULED.label} → {Status.EN_ROUTE.label}"
    assert said(event) == ("已排程 → 在途中", "Scheduled → On the way")


def test_the_console_shows_the_sentence_on_the_order_page_and_the_timeline(client):
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139907")
    arrival = hhmm(order.planned_arrival)
    client.force_login(factories.staff())
    with translation.override("zh-hans"):
        words = [console_selectors.event_words(e) for e in console_selectors.work_order_events(work_order=order)]
        timeline = console_selectors.customer_timeline(customer=order.customer)
    assert f"已派给张伟，预计{arrival}到达（新工单）" in " ".join(words)
    assert any(entry.text == f"已派给张伟，预计{arrival}到达（新工单）" for entry in timeline)
    page = client.get(reverse("console:work_order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    assert f"已派给张伟，预计{arrival}到达（新工单）" in page.content.decode()
    page = client.get(reverse("console:work_order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert f"Assigned to 张伟, arriving {arrival} (new order placed)" in page.content.decode()


def test_complaint_notes_read_in_both_languages_with_the_reason_as_given():
    factories.technician(name="张伟", lat=31.23, lon=121.47)
    order = dispatched(31.24, 121.48, phone="+8613800139908")
    supervisor = factories.user(role=Role.SUPERVISOR)
    care_services.complaint_raise(
        customer=order.customer, reason="师傅迟到两小时", source="staff", work_order=order, actor=supervisor
    )
    raised = event_of(order, EventKind.NOTE, data__complaint="raised")
    assert said(raised) == (
        "投诉（员工手动设置）：师傅迟到两小时；优先级 普通 → 高",
        "Complaint (Set by staff): 师傅迟到两小时; priority Normal → High",
    )
    care_services.complaint_clear(customer=order.customer, reason="已电话道歉", actor=supervisor)
    cleared = event_of(order, EventKind.NOTE, data__complaint="cleared")
    assert said(cleared) == ("投诉已解除：已电话道歉", "Complaint cleared: 已电话道歉")
    assert said(cleared)[1] == cleared.text


def test_assign_by_hand_reads_in_both_languages():
    zhang = factories.technician(name="张伟", lat=31.23, lon=121.47)
    wang = factories.technician(name="王磊", lat=31.30, lon=121.60)
    order = dispatched(31.235, 121.475, phone="+8613800139909")
    assert order.technician == zhang
    dispatcher = factories.user(role=Role.DISPATCHER, username="disp")
    changes.work_order_assign_by_hand(work_order_id=order.pk, technician_id=wang.pk, actor=dispatcher)
    off = event_of(order, EventKind.STATUS, to_status=Status.NEW)
    assert said(off) == ("已移出排程，将手动派给王磊", "Taken off the plan to be assigned by hand to 王磊")
    assigned = event_of(order, EventKind.ASSIGNED)
    arrival = hhmm(WorkOrder.objects.get(pk=order.pk).planned_arrival)
    assert said(assigned) == (
        f"已派给王磊，预计{arrival}到达（由disp手动派工）",
        f"Assigned to 王磊, arriving {arrival} (assigned by hand by disp)",
    )
    assert said(assigned)[1] == assigned.text
    pin = event_of(order, EventKind.PINNED)
    assert said(pin) == ("已固定给王磊（手动派工）", "Pinned to 王磊 (assigned by hand)")


def test_a_reminder_order_reads_in_both_languages_once_its_note_has_data():
    event = WorkOrderEvent(
        kind=EventKind.CREATED, text="From maintenance reminder 7", data={"source": "manual", "reminder_id": 7}
    )
    assert said(event) == ("来自保养提醒 7", "From maintenance reminder 7")
    event.data = {"source": "manual"}  # as server.crm writes it today
    assert said(event) == (event.text, event.text)


def test_texts_not_sent_held_for_the_morning_and_replies_read_in_both_languages(settings):
    from notifications.models import InboundSms
    from notifications.services import sms_opt_out
    from server.crm.replies import sms_reply_handle

    factories.technician(name="张伟", lat=31.23, lon=121.47)
    sms_opt_out(phone="+8613800139101", source="sms", keyword="TD")
    quiet = dispatched(31.24, 121.48, phone="+8613800139101")  # opted out: the booked text is not sent
    zh, en = said(event_of(quiet, EventKind.SMS, data__outcome="suppressed"))
    assert zh.startswith("短信未发送（该号码已退订）")
    assert en.startswith("SMS not sent (the number opted out)")

    settings.SMS_QUIET_HOURS = "00:00-23:59"  # always night: the booked text waits
    held = dispatched(31.25, 121.49, phone="+8613800139102")
    event = event_of(held, EventKind.SMS, data__not_before__isnull=False)
    zh, en = said(event)
    assert zh.startswith("短信将在早上发送（免打扰时段），发送时间")
    assert en.startswith("SMS held for the morning (quiet hours), goes at")

    inbound = InboundSms.objects.create(
        provider="twilio", provider_message_id="SM-evt", from_phone="+8613800139102", body="明天能早点来吗",
        received_at=timezone.now(),
    )  # fmt: skip
    sms_reply_handle(inbound_id=inbound.pk)
    zh, en = said(event_of(held, EventKind.SMS, data__direction="in"))
    assert zh == "客户短信回复：“明天能早点来吗”"
    assert en == "The customer replied by SMS: “明天能早点来吗”"
