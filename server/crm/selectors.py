"""Reads of the customer record: reminders waiting for staff, dormant customers, imports."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, DateTimeField, Max, Q, QuerySet
from django.db.models.functions import Coalesce

from server.crm.models import ImportJob, Reminder
from server.crm.services.reminders import add_months
from server.customers.models import Customer

LIST_LIMIT = 200


def reminders_open(*, limit: int = LIST_LIMIT) -> QuerySet[Reminder]:
    """Reminders sent and not yet turned into an order, the most urgent (earliest due) first."""
    return (
        Reminder.objects.filter(work_order__isnull=True, customer__erased_at__isnull=True)
        .select_related("customer", "equipment__site")
        .order_by("due_date", "id")[:limit]
    )


def customers_dormant(*, now: dt.datetime, months: int | None = None, limit: int = LIST_LIMIT) -> QuerySet[Customer]:
    """Customers (not erased, with a phone) with no order for ``DORMANT_MONTHS`` months, for a
    follow-up call; the longest silent first. A customer who never had an order counts from
    when they were added. Each row has ``last_order_at`` and ``order_count``."""
    span = settings.DORMANT_MONTHS if months is None else months
    cutoff_day = add_months(now.date(), -span)
    cutoff = now - (now.date() - cutoff_day)
    return (
        Customer.objects.filter(erased_at__isnull=True, phone__isnull=False)
        .annotate(
            last_order_at=Max("work_orders__created_at"),
            order_count=Count("work_orders"),
            last_contact=Coalesce(Max("work_orders__created_at"), "created_at", output_field=DateTimeField()),
        )
        .filter(Q(last_contact__lt=cutoff))
        .order_by("last_contact", "id")[:limit]
    )


def import_jobs_recent(*, limit: int = 20) -> QuerySet[ImportJob]:
    return ImportJob.objects.defer("data").order_by("-id")[:limit]
