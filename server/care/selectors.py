"""Customer-care reads."""

from __future__ import annotations

from django.db.models import QuerySet

from server.care.models import CallbackTask, ComplaintRecord, ConsentRecord, CustomerNote
from server.customers.models import Customer


def callback_tasks_open() -> QuerySet[CallbackTask]:
    """Open callback tasks, oldest first: the supervisor's queue."""
    return (
        CallbackTask.objects.filter(done_at__isnull=True)
        .select_related("customer", "work_order")
        .order_by("created_at", "id")
    )


def consent_history(*, customer: Customer) -> QuerySet[ConsentRecord]:
    """Every answer the customer gave, newest first, with who recorded it."""
    return ConsentRecord.objects.filter(customer=customer).select_related("recorded_by").order_by("-at", "-id")


def customer_notes(*, customer: Customer) -> QuerySet[CustomerNote]:
    """Staff notes about the customer, oldest first (timeline order)."""
    return CustomerNote.objects.filter(customer=customer).select_related("author", "work_order")


def complaint_history(*, customer: Customer) -> QuerySet[ComplaintRecord]:
    """The customer's complaints raised, repeated and cleared, oldest first (timeline order)."""
    return ComplaintRecord.objects.filter(customer=customer).select_related("actor", "work_order")


def customer_get(*, customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()
