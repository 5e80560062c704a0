"""Customer care: complaints move the queue, staff notes, ratings, callback tasks, consent history."""

import pytest
from django.db import IntegrityError, transaction

from server.accounts.models import Role
from server.care import selectors
from server.care import services as care
from server.care.models import CallbackTask, ComplaintRecord, ConsentRecord, CustomerNote, WorkOrderRating
from server.common.exceptions import Conflict, PermissionDenied, ValidationFailed
from server.common.models import AuditEntry
from server.customers.models import Customer
from server.intake import services as intake_services
from server.scheduling import services as scheduling_services
from server.workorders import services as work_order_services
from server.workorders.models import Priority, WorkOrder
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def replans(monkeypatch):
    """Counts the re-plans asked for (the re-plan itself is the scheduler's, tested there)."""
    asked: list[None] = []
    monkeypatch.setattr(scheduling_services, "replan_request", lambda: asked.append(None))
    return asked


def open_order(customer: Customer, *, priority: str = Priority.NORMAL) -> WorkOrder:
    return work_order_services.work_order_create(
        customer=customer, site=customer.sites.first(), problem="净水器漏水", priority=priority
    )


def test_a_complaint_note_turns_customer_and_order_red_moves_it_up_and_opens_a_supervisor_callback(replans):
    customer = factories.customer()
    older = open_order(customer)
    order = open_order(customer)  # the newest open order is the one meant
    author = factories.staff()
    note = care.note_add(customer=customer, text="客户说师傅态度恶劣，非常不满意，要投诉", author=author)
    assert CustomerNote.objects.get() == note
    customer.refresh_from_db()
    order.refresh_from_db()
    older.refresh_from_db()
    assert customer.complaint_open is True
    assert "投诉" in customer.complaint_reason
    assert customer.complaint_at is not None
    assert order.complaint is True
    assert order.priority == Priority.HIGH
    assert (older.complaint, older.priority) == (False, Priority.NORMAL)
    task = CallbackTask.objects.get()
    assert (task.kind, task.customer, task.work_order, task.phone) == ("complaint", customer, order, customer.phone)
    event = order.events.get(data__complaint="raised")
    assert "Normal → High" in event.text
    assert event.actor == author
    assert event.data["source"] == "note"
    record = ComplaintRecord.objects.get()
    assert (record.action, record.source, record.work_order) == ("raised", "note", order)
    assert "投诉" in record.words
    assert len(replans) == 1


def test_a_second_hit_while_the_complaint_is_open_opens_no_second_task_and_raises_no_second_time(replans):
    customer = factories.customer()
    order = open_order(customer)
    author = factories.staff()
    care.note_add(customer=customer, text="投诉: the technician never came", author=author, work_order=order)
    care.note_add(customer=customer, text="Called again, still a complaint, terrible", author=author)
    order.refresh_from_db()
    assert order.priority == Priority.HIGH  # one step, once
    assert CallbackTask.objects.count() == 1
    assert list(ComplaintRecord.objects.values_list("action", flat=True)) == ["raised", "repeated"]
    assert order.events.filter(data__complaint="repeated").count() == 1
    assert len(replans) == 1


def test_a_note_without_a_complaint_changes_nothing(replans):
    customer = factories.customer()
    order = open_order(customer)
    care.note_add(customer=customer, text="No complaints, thanks — asked for an invoice", author=factories.staff())
    customer.refresh_from_db()
    order.refresh_from_db()
    assert (customer.complaint_open, order.complaint, order.priority) == (False, False, Priority.NORMAL)
    assert not CallbackTask.objects.exists()
    assert replans == []


def test_notes_are_cleaned_cut_and_never_empty():
    customer = factories.customer()
    with pytest.raises(ValidationFailed):
        care.note_add(customer=customer, text=" \x00 ", author=factories.staff())
    note = care.note_add(customer=customer, text="a\x00b" + "x" * 5000, author=factories.staff())
    assert note.text.startswith("ab")
    assert len(note.text) == care.NOTE_MAX_LENGTH
    other = factories.customer(phone="+8613900139001")
    with pytest.raises(ValidationFailed):
        care.note_add(customer=customer, text="hello", author=factories.staff(), work_order=open_order(other))


def test_urgent_stays_urgent_and_a_customer_without_an_open_order_is_still_called_back(replans):
    customer = factories.customer()
    order = open_order(customer, priority=Priority.URGENT)
    care.complaint_raise(customer=customer, reason="angry on the phone", source="staff", actor=factories.staff())
    order.refresh_from_db()
    assert (order.complaint, order.priority) == (True, Priority.URGENT)
    lonely = factories.customer(phone="+8613900139001")
    care.complaint_raise(customer=lonely, reason="wants a manager", source="staff", actor=factories.staff())
    lonely.refresh_from_db()
    assert lonely.complaint_open is True
    assert CallbackTask.objects.get(customer=lonely).work_order is None


def test_staff_set_and_clear_the_flag_with_a_reason(replans):
    customer = factories.customer()
    order = open_order(customer)
    supervisor = factories.user(role=Role.SUPERVISOR)
    with pytest.raises(ValidationFailed):
        care.complaint_raise(customer=customer, reason="  ", source="staff", actor=supervisor)
    care.complaint_raise(customer=customer, reason="shouted at the agent", source="staff", actor=supervisor)
    with pytest.raises(ValidationFailed):
        care.complaint_clear(customer=customer, reason="", actor=supervisor)
    with pytest.raises(PermissionDenied):
        care.complaint_clear(customer=customer, reason="agents may not", actor=factories.staff())
    cleared = care.complaint_clear(customer=customer, reason="called back, refunded the visit", actor=supervisor)
    customer.refresh_from_db()
    order.refresh_from_db()
    assert (customer.complaint_open, customer.complaint_reason, customer.complaint_at) == (False, "", None)
    assert order.complaint is False
    assert order.priority == Priority.HIGH  # staff change the priority on the order
    assert order.events.filter(data__complaint="cleared", text__contains="refunded the visit").exists()
    assert (cleared.action, cleared.reason, cleared.actor) == ("cleared", "called back, refunded the visit", supervisor)
    assert [r.action for r in selectors.complaint_history(customer=customer)] == ["raised", "cleared"]
    with pytest.raises(Conflict):
        care.complaint_clear(customer=customer, reason="again", actor=supervisor)
    # A new complaint after the clear is a new one: a new raise and a new callback once the first is done.
    CallbackTask.objects.update(done_at=order.created_at)
    care.complaint_raise(customer=customer, reason="broken again", source="staff", actor=supervisor)
    order.refresh_from_db()
    assert order.priority == Priority.URGENT
    assert CallbackTask.objects.filter(done_at__isnull=True).count() == 1


def test_a_complaint_about_another_customers_order_is_refused():
    customer = factories.customer()
    other = factories.customer(phone="+8613900139001")
    with pytest.raises(ValidationFailed):
        care.complaint_raise(customer=customer, work_order=open_order(other), reason="x", source="staff")


def test_the_database_allows_one_open_complaint_callback_per_customer():
    customer = factories.customer()
    care.callback_task_create(kind="complaint", reason="first", customer=customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        care.callback_task_create(kind="complaint", reason="second", customer=customer)
    care.callback_task_create(kind="unidentified", reason="another kind", customer=customer)


def test_call_text_with_a_complaint_raises_it_on_the_order_the_call_created(replans):
    factories.technician()
    customer = factories.customer()
    result = intake_services.call_receive(
        provider="cti", call_id="c1", caller="13800138001", reason="我要投诉，净水器又漏水"
    )
    order = result.work_order
    order.refresh_from_db()
    customer.refresh_from_db()
    assert result.call.outcome == "created"
    assert order.complaint is True
    assert order.priority == Priority.HIGH
    assert customer.complaint_open is True
    task = CallbackTask.objects.get()
    assert (task.kind, task.work_order) == ("complaint", order)
    assert order.events.get(data__complaint="raised").data["source"] == "call"


def test_call_text_with_a_complaint_raises_it_on_the_order_the_call_joined(replans):
    factories.technician()
    customer = factories.customer()
    first = intake_services.call_receive(provider="cti", call_id="c1", caller="13800138001", reason="净水器漏水")
    assert not CallbackTask.objects.exists()
    second = intake_services.call_receive(provider="cti", call_id="c2", caller="13800138001", reason="还没来，我要投诉")
    assert second.call.outcome == "joined"
    assert second.work_order == first.work_order
    order = WorkOrder.objects.get()
    customer.refresh_from_db()
    assert (order.complaint, order.priority, customer.complaint_open) == (True, Priority.HIGH, True)
    assert CallbackTask.objects.get().kind == "complaint"


def test_a_low_rating_raises_a_complaint_and_a_good_one_does_not(replans):
    customer = factories.customer()
    good, bad = open_order(customer), open_order(customer)
    rating = care.rating_record(work_order=good, stars=5, comment="师傅很专业", source="sms")
    assert WorkOrderRating.objects.get(work_order=good) == rating
    customer.refresh_from_db()
    assert customer.complaint_open is False
    care.rating_record(work_order=bad, stars=2, source="sms")
    customer.refresh_from_db()
    bad.refresh_from_db()
    assert customer.complaint_open is True
    assert (bad.complaint, bad.priority) == (True, Priority.HIGH)
    assert ComplaintRecord.objects.get().source == "rating"
    assert CallbackTask.objects.get().work_order == bad
    with pytest.raises(Conflict):
        care.rating_record(work_order=bad, stars=1, source="sms")


def test_a_fair_rating_with_a_complaint_in_the_comment_raises_one(replans):
    customer = factories.customer()
    order = open_order(customer)
    care.rating_record(work_order=order, stars=3, comment="Terrible wait, I want a refund", source="app")
    order.refresh_from_db()
    assert order.complaint is True


@pytest.mark.parametrize("stars", [0, 6])
def test_ratings_are_one_to_five_stars(stars):
    order = open_order(factories.customer())
    with pytest.raises(ValidationFailed):
        care.rating_record(work_order=order, stars=stars, source="sms")
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkOrderRating.objects.create(work_order=order, stars=stars, source="sms")


def test_consent_set_keeps_the_history_and_the_current_flags():
    customer = factories.customer()
    agent = factories.staff()
    assert (customer.consent_service_sms, customer.consent_reminders, customer.consent_marketing) == (
        True,
        False,
        False,
    )
    care.consent_set(customer=customer, kind="reminders", given=True, source="phone", recorded_by=agent, note="on call")
    care.consent_set(customer=customer, kind="marketing", given=True, source="paper")
    care.consent_set(customer=customer, kind="marketing", given=False, source="sms", note="replied TD")
    customer.refresh_from_db()
    assert (customer.consent_service_sms, customer.consent_reminders, customer.consent_marketing) == (True, True, False)
    history = list(selectors.consent_history(customer=customer))
    assert [(r.kind, r.given, r.source) for r in history] == [
        ("marketing", False, "sms"),
        ("marketing", True, "paper"),
        ("reminders", True, "phone"),
    ]
    assert history[-1].recorded_by == agent
    assert history[-1].note == "on call"
    assert AuditEntry.objects.filter(customer=customer, action="changed").count() == 3
    with pytest.raises(ValidationFailed):
        care.consent_set(customer=customer, kind="newsletter", given=True, source="web")
    with pytest.raises(ValidationFailed):
        care.consent_set(customer=customer, kind="marketing", given=True, source="pigeon")
    assert ConsentRecord.objects.count() == 3


def test_complaint_callbacks_are_closed_by_supervisors_others_by_any_staff():
    customer = factories.customer()
    complaint = care.callback_task_create(kind="complaint", reason="angry", customer=customer)
    unidentified = care.callback_task_create(kind="unidentified", reason="no number")
    agent = factories.staff()
    with pytest.raises(PermissionDenied):
        care.callback_task_complete(task_id=complaint.pk, user=agent)
    assert care.callback_task_complete(task_id=unidentified.pk, user=agent).done_by == agent
    supervisor = factories.user(role=Role.SUPERVISOR)
    assert care.callback_task_complete(task_id=complaint.pk, user=supervisor).done_by == supervisor
    with pytest.raises(PermissionDenied):
        care.callback_task_complete(task_id=unidentified.pk, user=factories.technician().user)


def test_the_callback_task_keeps_the_intake_table():
    assert CallbackTask._meta.db_table == "intake_callbacktask"
    assert CallbackTask._meta.app_label == "care"


def test_an_sms_reply_with_a_complaint_raises_one(replans):
    customer = factories.customer()
    order = open_order(customer)
    assert care.sms_reply_check(customer=customer, text="1") is None
    record = care.sms_reply_check(customer=customer, text="太差劲了，我要投诉")
    assert record is not None
    assert (record.source, record.work_order) == ("sms", order)


def test_a_repair_logged_as_a_complaint_is_a_complaint(replans):
    factories.technician()
    customer = factories.customer()
    agent = factories.staff()
    order = intake_services.repair_log(actor=agent, customer_id=customer.pk, problem="又漏水了", complaint=True)
    customer.refresh_from_db()
    assert (order.complaint, order.priority, customer.complaint_open) == (True, Priority.HIGH, True)
    task = CallbackTask.objects.get()
    assert (task.kind, task.work_order) == ("complaint", order)
    assert ComplaintRecord.objects.get().actor == agent
