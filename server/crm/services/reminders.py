"""Maintenance reminders: staged SMS before a service falls due, and the order a click creates."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from notifications import messages as sms_messages
from notifications import services as sms_services
from notifications.models import SmsMessage
from notifications.services import sms_queue
from server.accounts.roles import require_staff
from server.common.exceptions import NotFound
from server.crm.models import Reminder, ReminderStage, ServiceInterval
from server.customers.models import Equipment
from server.intake.services import work_order_create_and_dispatch
from server.workorders.models import OPEN_STATUSES, Source, Status, WorkOrder, WorkOrderEvent

logger = logging.getLogger(__name__)

# The seeded intervals' labels, for the catalogue (the SMS translates the label it sends).
SEEDED_LABELS = (
    gettext_noop("Water-purifier filter"),
    gettext_noop("Washing-machine service"),
    gettext_noop("Air-conditioner service"),
    gettext_noop("HVAC service"),
    gettext_noop("Water-heater service"),
)

# Stages by days left until the due date: the first stage whose bound holds is the one due now.
STAGE_DAYS: tuple[tuple[ReminderStage, int], ...] = (
    (ReminderStage.OVERDUE, 0),
    (ReminderStage.DAYS_7, 7),
    (ReminderStage.DAYS_30, 30),
)
# An overdue reminder goes out only this long after the due date: equipment installed years ago
# and never serviced is a follow-up call (the dormant list), not a sudden SMS on the first run.
OVERDUE_WINDOW_DAYS = 60


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def stage_for(*, due_date: dt.date, today: dt.date) -> ReminderStage | None:
    """The stage a reminder for ``due_date`` is at ``today``, or None (too early or too late)."""
    days_left = (due_date - today).days
    if days_left < -OVERDUE_WINDOW_DAYS:
        return None
    for stage, bound in STAGE_DAYS:
        if days_left <= bound:
            return stage
    return None


@dataclass(frozen=True, slots=True)
class Due:
    equipment_id: int
    customer_id: int
    due_date: dt.date
    stage: ReminderStage
    interval: ServiceInterval


def equipment_due(*, today: dt.date) -> list[Due]:
    """Equipment whose next service (last completed order for it, else install date, plus the
    type's interval) is at a reminder stage today, for customers who agreed to reminders, have a
    phone, are not erased, and have no open order for that equipment."""
    intervals = {interval.equipment_type: interval for interval in ServiceInterval.objects.filter(active=True)}
    if not intervals:
        return []
    last_completed = (
        WorkOrderEvent.objects.filter(
            work_order__equipment=OuterRef("pk"), work_order__status=Status.COMPLETED, to_status=Status.COMPLETED
        )
        .values("work_order__equipment")
        .annotate(last=Max("created_at"))
        .values("last")
    )
    rows = (
        Equipment.objects.filter(
            equipment_type__in=list(intervals),
            site__customer__consent_reminders=True,
            site__customer__phone__isnull=False,
            site__customer__erased_at__isnull=True,
        )
        .exclude(site__customer__phone="")
        .exclude(work_orders__status__in=OPEN_STATUSES)
        .annotate(last_service=Subquery(last_completed))
        .values_list("pk", "site__customer_id", "equipment_type", "install_date", "last_service")
        .distinct()
    )
    found: list[Due] = []
    for equipment_id, customer_id, equipment_type, install_date, last_service in rows.iterator(chunk_size=2000):
        interval = intervals[equipment_type]
        base = last_service.date() if last_service is not None else install_date
        if base is None:
            continue
        due_date = add_months(base, interval.months)
        stage = stage_for(due_date=due_date, today=today)
        if stage is not None:
            found.append(Due(equipment_id, customer_id, due_date, stage, interval))
    return found


def reminder_text(*, language: str, label: str, due_date: dt.date, stage: ReminderStage) -> str:
    """The SMS, short, in the customer's language and signed."""
    django_language = "en" if language.startswith("en") else "zh-hans"
    with translation.override(django_language):
        if stage == ReminderStage.OVERDUE:
            text = _("Your %(label)s was due on %(date)s. Reply 1 or call us to book a visit.")
        else:
            text = _("Your %(label)s is due on %(date)s. Reply 1 or call us to book a visit.")
        text = text % {"label": _(label), "date": due_date.isoformat()}
        return sms_messages.signed(text, language=language, signature=sms_services.sms_signature(language))


def _reminder_send(due: Due) -> Reminder | None:
    """Record and queue one stage; None when this stage was sent already (by any run)."""
    equipment = Equipment.objects.select_related("site__customer").get(pk=due.equipment_id)
    customer = equipment.site.customer
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: the lost race leaves nothing behind
                reminder = Reminder.objects.create(
                    equipment=equipment, customer=customer, due_date=due.due_date, stage=due.stage
                )
        except IntegrityError:
            return None
        assert customer.phone is not None
        message = sms_queue(
            to=customer.phone,
            body=reminder_text(
                language=customer.language, label=due.interval.label, due_date=due.due_date, stage=due.stage
            ),
            kind=SmsMessage.Kind.REMINDER,
            language=customer.language,
            idempotency_key=f"crm-reminder:{equipment.pk}:{due.due_date.isoformat()}:{due.stage}",
            customer_id=customer.pk,
        )
        reminder.sms_id = message.pk
        reminder.save(update_fields=["sms_id"])
    return reminder


def reminders_queue(*, today: dt.date) -> list[Reminder]:
    """Queue every maintenance reminder due ``today``; each stage goes out once per due date.

    Safe to run again or concurrently: the (equipment, due date, stage) constraint and the SMS
    idempotency key make a repeat send nothing. Each reminder commits on its own, so one bad
    phone number does not hold back the others.
    """
    sent: list[Reminder] = []
    for due in equipment_due(today=today):
        try:
            reminder = _reminder_send(due)
        except Exception:
            logger.exception("Maintenance reminder for equipment %s not queued", due.equipment_id)
            continue
        if reminder is not None:
            sent.append(reminder)
    return sent


def reminder_order_create(*, reminder_id: int, actor: User) -> WorkOrder:
    """Create (and dispatch) the preventive order a reminder asks for; a repeat returns it."""
    require_staff(actor)
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update(of=("self",))
            .select_related("equipment__site", "customer", "work_order")
            .filter(pk=reminder_id)
            .first()
        )
        if reminder is None:
            raise NotFound(_("This reminder does not exist"))
        if reminder.work_order is not None:
            return reminder.work_order
        equipment = reminder.equipment
        interval = ServiceInterval.objects.filter(equipment_type=equipment.equipment_type).first()
        what = interval.label if interval is not None else equipment.equipment_type
        work_order = work_order_create_and_dispatch(
            customer=reminder.customer,
            site=equipment.site,
            equipment=equipment,
            problem=f"Preventive maintenance: {what} ({equipment}), due {reminder.due_date.isoformat()}",
            required_skill=equipment.required_skill,
            # There is no "preventive" source: staff entered it, from the reminder.
            source=Source.MANUAL,
            actor=actor,
            note=f"From maintenance reminder {reminder.pk}",
            note_data={"reminder_id": reminder.pk},
        )
        reminder.work_order = work_order
        reminder.save(update_fields=["work_order"])
        return work_order
