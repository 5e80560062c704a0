"""Data protection: a customer's data on request, erasure (anonymisation), retention purge.

Exports and erasure need a supervisor or an administrator and are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.models import InboundSms, SmsMessage
from server.accounts.models import Role
from server.accounts.roles import require_role
from server.care.models import CallbackTask, ComplaintRecord, ConsentRecord, CustomerNote, WorkOrderRating
from server.common.audit import audit_record
from server.common.exceptions import ValidationFailed
from server.common.models import AuditAction
from server.customers.models import Customer, Equipment, Site
from server.intake.models import CallRecord
from server.technicians.models import TechnicianLocation
from server.workorders.models import WorkOrder, WorkOrderEvent

ERASED = "(erased)"
PURGED = "(purged)"

EXPORT_ROLES = (Role.SUPERVISOR, Role.ADMIN)


def require_export_role(user: User) -> None:
    """Exports of personal data (one customer's, or whole tables) are for supervisors and admins."""
    require_role(user, *EXPORT_ROLES)


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer_data_export(*, customer: Customer, user: User) -> dict[str, Any]:
    """Everything held about one customer, as JSON-able data, for the customer's own request."""
    require_export_role(user)
    customer = Customer.objects.get(pk=customer.pk)  # as stored now, not as the caller last read it
    sites = list(Site.objects.filter(customer=customer).order_by("id"))
    equipment = list(Equipment.objects.filter(site__customer=customer).order_by("id"))
    orders = list(WorkOrder.objects.filter(customer=customer).select_related("technician").prefetch_related("events"))
    calls = list(CallRecord.objects.filter(customer=customer).order_by("id"))
    callbacks = list(CallbackTask.objects.filter(customer=customer).order_by("id"))
    messages = list(SmsMessage.objects.filter(customer_id=customer.pk).order_by("id"))
    notes = list(CustomerNote.objects.filter(customer=customer).order_by("id"))
    complaints = list(ComplaintRecord.objects.filter(customer=customer).order_by("id"))
    ratings = list(WorkOrderRating.objects.filter(work_order__customer=customer).select_related("work_order"))
    consents = list(ConsentRecord.objects.filter(customer=customer).order_by("at", "id"))
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "phone": customer.phone,
            "language": customer.language,
            "notes": customer.notes,
            "created_at": _when(customer.created_at),
            "erased_at": _when(customer.erased_at),
        },
        "consent": {
            "service_sms": customer.consent_service_sms,
            "reminders": customer.consent_reminders,
            "marketing": customer.consent_marketing,
        },
        "consent_history": [
            {"kind": c.kind, "given": c.given, "at": _when(c.at), "source": c.source, "note": c.note} for c in consents
        ],
        "complaint": {
            "open": customer.complaint_open,
            "reason": customer.complaint_reason,
            "at": _when(customer.complaint_at),
        },
        "complaints": [
            {"at": _when(c.created_at), "action": c.action, "source": c.source, "reason": c.reason, "words": c.words}
            for c in complaints
        ],
        "notes": [{"at": _when(n.created_at), "text": n.text, "work_order_id": n.work_order_id} for n in notes],
        "ratings": [
            {"work_order": r.work_order.reference, "stars": r.stars, "comment": r.comment, "at": _when(r.created_at)}
            for r in ratings
        ],
        "sites": [
            {
                "id": site.pk,
                "address": site.address,
                "latitude": site.latitude,
                "longitude": site.longitude,
                "access_notes": site.access_notes,
                "is_primary": site.is_primary,
            }
            for site in sites
        ],
        "equipment": [
            {
                "id": item.pk,
                "site_id": item.site_id,
                "equipment_type": item.equipment_type,
                "model": item.model,
                "serial_number": item.serial_number,
                "install_date": _when(item.install_date),
            }
            for item in equipment
        ],
        "work_orders": [
            {
                "reference": order.reference,
                "status": order.status,
                "priority": order.priority,
                "problem": order.problem,
                "site_id": order.site_id,
                "equipment_id": order.equipment_id,
                "technician": order.technician.name if order.technician is not None else None,
                "created_at": _when(order.created_at),
                "scheduled_day": _when(order.scheduled_day),
                "promised_start": _when(order.promised_start),
                "promised_end": _when(order.promised_end),
                "events": [
                    {
                        "at": _when(event.created_at),
                        "kind": event.kind,
                        "from_status": event.from_status,
                        "to_status": event.to_status,
                        "by": event.actor_label,
                        "text": event.text,
                    }
                    for event in order.events.all()
                ],
            }
            for order in orders
        ],
        "calls": [
            {
                "at": _when(call.created_at),
                "provider": call.provider,
                "caller": call.caller_raw,
                "caller_phone": call.caller_phone,
                "status": call.call_status,
                "reason": call.reason,
                "outcome": call.outcome,
                "work_order_id": call.work_order_id,
            }
            for call in calls
        ],
        "callback_tasks": [
            {"at": _when(task.created_at), "phone": task.phone, "reason": task.reason, "done_at": _when(task.done_at)}
            for task in callbacks
        ],
        "sms": [
            {
                "at": _when(message.created_at),
                "to": message.to,
                "body": message.body,
                "kind": message.kind,
                "status": message.status,
                "sent_at": _when(message.sent_at),
            }
            for message in messages
        ],
    }
    audit_record(user=user, action=AuditAction.EXPORTED, what="personal data export (JSON)", customer_id=customer.pk)
    return data


@transaction.atomic
def customer_erase(*, customer: Customer, user: User, reason: str) -> Customer:
    """Anonymise one customer's personal data, keeping the order rows for the statistics.

    Blanks the name, phone, notes and complaint reason; sites' addresses become "(erased)"
    without coordinates or access notes; equipment loses its serial number; orders keep their
    status, times, priority, technician and equipment type but lose their free texts (problem,
    event texts and data, hold and risk reasons, the assignment explanation); calls lose the
    caller, reason and raw payload; callback tasks their phone and reason; SMS their number and
    body; staff notes, complaint reasons and words, rating comments and consent notes their text
    (the records, stars and consent answers stay). All in one transaction, with an audit entry.
    """
    require_export_role(user)
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationFailed(_("Give the reason for erasing this customer's data (e.g. the customer's request)."))
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    now = timezone.now()
    if customer.phone:
        # Their replies by text. An opt-out of the number is kept: it is what stops any text to it.
        InboundSms.objects.filter(from_phone=customer.phone).update(from_phone="", body=ERASED, outcome="")
    Customer.objects.filter(pk=customer.pk).update(
        name="", phone=None, notes="", complaint_reason="", needs_review=False, erased_at=now,
        consent_service_sms=False, consent_reminders=False, consent_marketing=False, updated_at=now,
    )  # fmt: skip
    Site.objects.filter(customer=customer).update(
        address=ERASED, latitude=None, longitude=None, access_notes="", location_source="none", updated_at=now
    )
    Equipment.objects.filter(site__customer=customer).update(serial_number="", updated_at=now)
    orders = WorkOrder.objects.filter(customer=customer)
    orders.update(problem="", hold_reason="", promise_risk_reason="", assignment_explanation={}, updated_at=now)
    WorkOrderEvent.objects.filter(work_order__customer=customer).update(text="", data={})
    CallRecord.objects.filter(customer=customer).update(
        caller_raw="", caller_phone="", reason="", payload={}, updated_at=now
    )
    CallbackTask.objects.filter(customer=customer).update(phone="", caller_raw="", reason="", updated_at=now)
    SmsMessage.objects.filter(customer_id=customer.pk).update(to="", body=ERASED)
    CustomerNote.objects.filter(customer=customer).update(text=ERASED)
    ComplaintRecord.objects.filter(customer=customer).update(reason="", words=[])
    WorkOrderRating.objects.filter(work_order__customer=customer).update(comment="")
    ConsentRecord.objects.filter(customer=customer).update(note="")
    audit_record(user=user, action=AuditAction.ERASED, what=f"erased: {reason}", customer_id=customer.pk)
    customer.refresh_from_db()
    return customer


@dataclass(frozen=True, slots=True)
class PurgeResult:
    call_payloads: int
    sms_bodies: int
    positions: int = 0


def retention_purge(*, now: dt.datetime) -> PurgeResult:
    """Purge raw call payloads and SMS bodies older than ``settings.RETENTION_DAYS``, and the
    positions the technicians' phones reported older than ``settings.LOCATION_RETENTION_DAYS``
    (where a person drove is theirs; the ETA needed it for minutes, disputes for days).

    Idempotent: rows already purged are not counted again. SMS still waiting to be sent are left.
    """
    positions = TechnicianLocation.objects.filter(
        device_time__lt=now - dt.timedelta(days=settings.LOCATION_RETENTION_DAYS)
    ).delete()[0]
    cutoff = now - dt.timedelta(days=settings.RETENTION_DAYS)
    with transaction.atomic():
        calls = CallRecord.objects.filter(created_at__lt=cutoff).exclude(payload={}).update(payload={})
        messages = (
            SmsMessage.objects.filter(created_at__lt=cutoff)
            .exclude(status__in=[SmsMessage.Status.QUEUED, SmsMessage.Status.SENDING])
            .exclude(body__in=[PURGED, ERASED])
            .update(body=PURGED)
        )
        messages += (
            InboundSms.objects.filter(received_at__lt=cutoff).exclude(body__in=[PURGED, ERASED]).update(body=PURGED)
        )
    return PurgeResult(call_payloads=calls, sms_bodies=messages, positions=positions)
