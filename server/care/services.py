"""Customer-care writes: callback tasks, complaints, staff notes, ratings and consent.

Lock order, like everywhere else: the customer row, then the work-order row (intake locks the
caller's customer, then their open order; a complaint found in the call's text follows on).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from server.accounts.models import Role
from server.accounts.roles import has_role
from server.care.complaint_words import complaint_score
from server.care.models import (
    CONSENT_FIELDS,
    CallbackKind,
    CallbackTask,
    ComplaintAction,
    ComplaintRecord,
    ComplaintSource,
    ConsentKind,
    ConsentRecord,
    ConsentSource,
    CustomerNote,
    RatingSource,
    WorkOrderRating,
)
from server.common.audit import audit_record
from server.common.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from server.common.models import AuditAction
from server.common.phones import phone_to_e164
from server.common.text import PROBLEM_MAX_LENGTH, text_clean
from server.customers.models import Customer
from server.scheduling import services as scheduling_services
from server.workorders import services as work_order_services
from server.workorders.models import OPEN_STATUSES, PRIORITY_RANK, EventKind, Priority, WorkOrder, WorkOrderEvent

NOTE_MAX_LENGTH = 4000
REASON_MAX_LENGTH = 300  # Customer.complaint_reason, ComplaintRecord.reason
RATING_COMPLAINT_STARS = 2  # this many stars or fewer is a complaint

# Who may close a callback task of each kind (any other kind: every staff role). Complaint
# callbacks are the supervisor's: the customer hears from someone who can decide.
CALLBACK_CLOSERS: dict[str, tuple[Role, ...]] = {
    CallbackKind.COMPLAINT: (Role.SUPERVISOR, Role.ADMIN),
}
STAFF_CALLBACK_CLOSERS = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN)
# Any staff member may raise a complaint by hand (an agent hears the customer first); clearing
# one is a supervisor's decision.
COMPLAINT_CLEARERS = (Role.SUPERVISOR, Role.ADMIN)


def _max_length(field: str) -> int:
    column = CallbackTask._meta.get_field(field)
    assert isinstance(column, models.CharField)
    assert column.max_length is not None
    return column.max_length


def _actor_label(actor: User | None, actor_label: str) -> str:
    return actor_label or (actor.get_username() if actor is not None else "system")


# --- Callback tasks ------------------------------------------------------------------------------


@transaction.atomic
def callback_task_create(
    *,
    kind: CallbackKind | str,
    reason: str,
    customer: Customer | None = None,
    work_order: WorkOrder | None = None,
    call_id: int | None = None,
    phone: str = "",
    caller_raw: str = "",
) -> CallbackTask:
    """Open a task for staff to call someone back; ``phone`` when the number is known (stored as
    E.164; one that is not a phone number raises ``InvalidPhoneNumber``). ``call_id`` is the
    ``intake.CallRecord`` the task came from (an id: care sits below intake)."""
    if kind not in CallbackKind.values:
        raise ValidationFailed(_("Unknown callback kind “%(kind)s”") % {"kind": kind})
    task = CallbackTask(
        kind=kind,
        customer=customer,
        work_order=work_order,
        call_id=call_id,
        phone=phone_to_e164(phone) if phone.strip() else "",
        caller_raw=text_clean(caller_raw, max_length=_max_length("caller_raw")),
        reason=text_clean(reason, max_length=PROBLEM_MAX_LENGTH),
    )
    task.full_clean(exclude=["customer", "work_order", "call", "done_by"], validate_constraints=False)
    task.save()
    return task


def callback_task_can_complete(*, user: User | AnonymousUser, kind: str) -> bool:
    """Supervisors and admins close any callback; agents and dispatchers all but complaints."""
    return has_role(user, *CALLBACK_CLOSERS.get(kind, STAFF_CALLBACK_CLOSERS))


@transaction.atomic
def callback_task_complete(*, task_id: int, user: User) -> CallbackTask:
    """Mark a callback done by ``user``; a task already done keeps who did it and when.

    Refused (``PermissionDenied``) to a user whose role may not close this kind of task.
    """
    task = CallbackTask.objects.select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound(_("Callback task %(id)s does not exist") % {"id": task_id})
    if not callback_task_can_complete(user=user, kind=task.kind):
        raise PermissionDenied(_("Only a supervisor or an administrator may close a complaint callback"))
    if task.done_at is None:
        task.done_at = timezone.now()
        task.done_by = user
        task.save(update_fields=["done_at", "done_by", "updated_at"])
    return task


# --- Complaints ----------------------------------------------------------------------------------


def _priority_up(priority: str) -> str:
    """One step up (low → normal → high → urgent); urgent stays urgent."""
    ranked = sorted(PRIORITY_RANK, key=PRIORITY_RANK.__getitem__)
    return ranked[min(ranked.index(priority) + 1, len(ranked) - 1)]


def _complaint_order(*, customer: Customer, work_order: WorkOrder | None) -> WorkOrder | None:
    """The order the complaint is about, locked: the given one, else the customer's newest open one."""
    query = WorkOrder.objects.select_for_update(of=("self",), no_key=True)
    if work_order is not None:
        if work_order.customer_id != customer.pk:
            raise ValidationFailed(_("The work order belongs to another customer"))
        return query.get(pk=work_order.pk)
    return query.filter(customer=customer, status__in=OPEN_STATUSES).order_by("-created_at", "-id").first()


def _work_order_complaint_mark(
    work_order: WorkOrder, *, reason: str, source: str, actor: User | None, actor_label: str
) -> bool:
    """Mark a locked order red and, when it is open, raise its priority one step; with an event.

    Returns whether anything changed (an order already red gets a note only). There is no
    work-order service for priority: this is it, following the rules of those services (row
    lock held by the caller, ``version`` bumped so a running re-plan does not undo it, an event).
    """
    label = _actor_label(actor, actor_label)
    if work_order.complaint:
        work_order_services.work_order_note(
            work_order=work_order,
            text=f"Complaint repeated ({source}): {reason}",
            actor=actor,
            actor_label=label,
            data={"complaint": "repeated", "source": source},
        )
        return False
    before = work_order.priority
    raise_priority = work_order.status in OPEN_STATUSES
    work_order.complaint = True
    if raise_priority:
        work_order.priority = _priority_up(before)
    work_order.version += 1
    work_order.save(update_fields=["complaint", "priority", "version", "updated_at"])
    change = (
        f"; priority {Priority(before).label} → {Priority(work_order.priority).label}"
        if work_order.priority != before
        else ""
    )
    work_order_services.work_order_note(
        work_order=work_order,
        text=f"Complaint ({source}): {reason}{change}",
        actor=actor,
        actor_label=label,
        data={"complaint": "raised", "source": source, "priority_from": before, "priority_to": work_order.priority},
    )
    return raise_priority


@transaction.atomic
def complaint_raise(
    *,
    customer: Customer,
    reason: str,
    source: ComplaintSource | str,
    work_order: WorkOrder | None = None,
    words: tuple[str, ...] = (),
    actor: User | None = None,
    actor_label: str = "",
) -> ComplaintRecord:
    """Raise a complaint: the customer and their order turn red, the order moves up, a supervisor calls back.

    The order is ``work_order`` or else the customer's newest open order (a customer with none is
    marked all the same). An open order's priority goes one step up and a re-plan is requested
    (after commit). A supervisor callback task is opened unless one is open already. Idempotent
    while the complaint is open: another hit is recorded (a ``repeated`` record, a note on the
    order) but opens no second task and raises no priority twice. Staff setting the flag by hand
    use ``source="staff"`` and must give a reason.
    """
    if source not in ComplaintSource.values:
        raise ValidationFailed(_("Unknown complaint source “%(source)s”") % {"source": source})
    reason = text_clean(reason, max_length=REASON_MAX_LENGTH).strip()
    if not reason:
        raise ValidationFailed(_("Give a reason for the complaint"))
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    order = _complaint_order(customer=customer, work_order=work_order)
    label = _actor_label(actor, actor_label)
    repeated = customer.complaint_open
    if not repeated:
        customer.complaint_open = True
        customer.complaint_reason = reason
        customer.complaint_at = timezone.now()
        customer.save(update_fields=["complaint_open", "complaint_reason", "complaint_at", "updated_at"])
    if order is not None and _work_order_complaint_mark(
        order, reason=reason, source=source, actor=actor, actor_label=label
    ):
        scheduling_services.replan_request()
    if not CallbackTask.objects.filter(customer=customer, kind=CallbackKind.COMPLAINT, done_at__isnull=True).exists():
        callback_task_create(
            kind=CallbackKind.COMPLAINT,
            reason=f"Complaint ({ComplaintSource(source).label}): {reason}",
            customer=customer,
            work_order=order,
            phone=customer.phone or "",
        )
    return ComplaintRecord.objects.create(
        customer=customer,
        work_order=order,
        action=ComplaintAction.REPEATED if repeated else ComplaintAction.RAISED,
        source=source,
        reason=reason,
        words=list(words),
        actor=actor,
        actor_label=label,
    )


def complaint_check(
    *,
    customer: Customer,
    text: str,
    source: ComplaintSource | str,
    work_order: WorkOrder | None = None,
    actor: User | None = None,
    actor_label: str = "",
) -> ComplaintRecord | None:
    """Score ``text`` (``complaint_words``) and raise a complaint when it reaches the threshold.

    The entry point for every text a customer or staff wrote: call reasons, staff notes, rating
    comments and, once inbound SMS exists, SMS replies (``source="sms"``).
    """
    hit = complaint_score(text)
    if not hit.is_complaint:
        return None
    quoted = text_clean(" ".join(text.split()), max_length=200)
    return complaint_raise(
        customer=customer,
        work_order=work_order,
        reason=f"{', '.join(hit.words)}: “{quoted}”",
        source=source,
        words=hit.words,
        actor=actor,
        actor_label=actor_label,
    )


def sms_reply_check(*, customer: Customer, text: str, work_order: WorkOrder | None = None) -> ComplaintRecord | None:
    """A customer's SMS reply, checked for a complaint (source "sms").

    Inbound SMS does not exist yet (a later issue): its webhook calls this with the sender's
    customer and, when the reply answers a message about an order, that order.
    """
    return complaint_check(
        customer=customer, work_order=work_order, text=text, source=ComplaintSource.SMS, actor_label="sms"
    )


@transaction.atomic
def complaint_clear(*, customer: Customer, reason: str, actor: User) -> ComplaintRecord:
    """A supervisor or admin clears an open complaint, with a reason: the customer and their red orders turn normal.

    Priorities stay where the complaint put them (staff change them on the order); open complaint
    callback tasks stay open until someone has called back. ``Conflict`` when none is open.
    """
    if not has_role(actor, *COMPLAINT_CLEARERS):
        raise PermissionDenied(_("Only a supervisor or an administrator may clear a complaint"))
    reason = text_clean(reason, max_length=REASON_MAX_LENGTH).strip()
    if not reason:
        raise ValidationFailed(_("Give a reason for clearing the complaint"))
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if not customer.complaint_open:
        raise Conflict(_("This customer has no open complaint"))
    customer.complaint_open = False
    customer.complaint_reason = ""
    customer.complaint_at = None
    customer.save(update_fields=["complaint_open", "complaint_reason", "complaint_at", "updated_at"])
    label = actor.get_username()
    red = WorkOrder.objects.select_for_update(of=("self",), no_key=True).filter(customer=customer, complaint=True)
    for order in red.order_by("id"):
        order.complaint = False
        order.version += 1
        order.save(update_fields=["complaint", "version", "updated_at"])
        work_order_services.work_order_note(
            work_order=order,
            text=f"Complaint cleared: {reason}",
            actor=actor,
            actor_label=label,
            data={"complaint": "cleared"},
        )
    return ComplaintRecord.objects.create(
        customer=customer,
        action=ComplaintAction.CLEARED,
        source=ComplaintSource.STAFF,
        reason=reason,
        actor=actor,
        actor_label=label,
    )


# --- Staff notes and ratings ---------------------------------------------------------------------


@transaction.atomic
def note_add(*, customer: Customer, text: str, author: User, work_order: WorkOrder | None = None) -> CustomerNote:
    """Store a staff note about a customer (and optionally an order of theirs); a complaint in it
    raises one (``complaint_check``, source "note")."""
    text = text_clean(text, max_length=NOTE_MAX_LENGTH).strip()
    if not text:
        raise ValidationFailed(_("The note is empty"))
    if work_order is not None and work_order.customer_id != customer.pk:
        raise ValidationFailed(_("The work order belongs to another customer"))
    note = CustomerNote.objects.create(customer=customer, work_order=work_order, author=author, text=text)
    complaint_check(customer=customer, work_order=work_order, text=text, source=ComplaintSource.NOTE, actor=author)
    return note


@transaction.atomic
def rating_record(
    *, work_order: WorkOrder, stars: int, source: RatingSource | str, comment: str = ""
) -> WorkOrderRating:
    """Record the customer's rating of an order (one per order: ``Conflict`` for a second).

    1–2 stars raise a complaint on the order; a higher rating whose comment reads as a complaint
    raises one too.
    """
    if not 1 <= stars <= 5:
        raise ValidationFailed(_("A rating is 1 to 5 stars"))
    if source not in RatingSource.values:
        raise ValidationFailed(_("Unknown rating source “%(source)s”") % {"source": source})
    comment = text_clean(comment, max_length=NOTE_MAX_LENGTH).strip()
    try:
        with transaction.atomic():  # a savepoint: two ratings at once, the second one is refused
            rating = WorkOrderRating.objects.create(work_order=work_order, stars=stars, comment=comment, source=source)
    except IntegrityError as exc:
        raise Conflict(_("This work order has been rated already")) from exc
    customer = work_order.customer
    if stars <= RATING_COMPLAINT_STARS:
        hit = complaint_score(comment)
        complaint_raise(
            customer=customer,
            work_order=work_order,
            reason=f"Rated {stars}★" + (f": “{text_clean(comment, max_length=200)}”" if comment else ""),
            source=ComplaintSource.RATING,
            words=hit.words,
            actor_label=f"rating ({source})",
        )
    elif comment:
        complaint_check(
            customer=customer,
            work_order=work_order,
            text=comment,
            source=ComplaintSource.RATING,
            actor_label=f"rating ({source})",
        )
    return rating


# --- Consent -------------------------------------------------------------------------------------


@transaction.atomic
def consent_set(
    *,
    customer: Customer,
    kind: ConsentKind | str,
    given: bool,
    source: ConsentSource | str,
    recorded_by: User | None = None,
    note: str = "",
) -> ConsentRecord:
    """Record a customer's yes or no to one kind of message and make it their current answer.

    The history record and the Customer's flag (``consent_service_sms``, ``consent_reminders``,
    ``consent_marketing``) are written together; the change is in the audit log.
    """
    if kind not in ConsentKind.values:
        raise ValidationFailed(_("Unknown consent “%(kind)s”") % {"kind": kind})
    if source not in ConsentSource.values:
        raise ValidationFailed(_("Unknown consent source “%(source)s”") % {"source": source})
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    field = CONSENT_FIELDS[kind]
    setattr(customer, field, given)
    customer.save(update_fields=[field, "updated_at"])
    record = ConsentRecord.objects.create(
        customer=customer,
        kind=kind,
        given=given,
        at=timezone.now(),
        source=source,
        recorded_by=recorded_by,
        note=text_clean(note, max_length=300).strip(),
    )
    audit_record(
        user=recorded_by,
        action=AuditAction.CHANGED,
        what=f"consent: {kind} {'given' if given else 'withdrawn'} ({source})",
        customer_id=customer.pk,
    )
    return record


def callback_tasks_for_late_visits() -> int:
    """One callback task per visit that ran late a third time (the work-order services stop texting
    then and leave a note: care sits above them, so it opens the tasks). Returns how many opened."""
    opened = 0
    notes = WorkOrderEvent.objects.filter(
        kind=EventKind.NOTE, data__late_callback__isnull=False, data__callback_task_id__isnull=True
    ).select_related("work_order__customer")
    for note in notes:
        with transaction.atomic():
            locked = WorkOrderEvent.objects.select_for_update().filter(pk=note.pk).first()
            if locked is None or locked.data.get("callback_task_id"):
                continue
            order = note.work_order
            task = callback_task_create(
                kind=CallbackKind.RUNNING_LATE,
                reason=f"{order.reference}: {note.data.get('reason', 'running late again')}",
                customer=order.customer,
                work_order=order,
                phone=order.customer.phone or "",
            )
            locked.data = {**locked.data, "callback_task_id": task.pk}
            locked.save(update_fields=["data"])
            opened += 1
    return opened
