"""Celery tasks of the customer record: each only calls a service."""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import shared_task
from django.utils import timezone

from server.care.services import callback_tasks_for_late_visits
from server.crm.services import imports, privacy, reminders
from server.workorders import services as work_order_services


@shared_task(name="server.crm.tasks.reminders_daily")
def reminders_daily() -> int:
    """Queue today's maintenance reminders (beat, once a day); returns how many went out."""
    return len(reminders.reminders_queue(today=timezone.localdate()))


@shared_task(name="server.crm.tasks.retention_purge")
def retention_purge() -> dict[str, Any]:
    """Purge raw call payloads and SMS bodies past the retention period (beat, nightly)."""
    return dataclasses.asdict(privacy.retention_purge(now=timezone.now()))


@shared_task(name="server.crm.tasks.import_run")
def import_run(*, job_id: int) -> int:
    """Run one uploaded import; returns the rows imported."""
    return imports.import_job_run(job_id=job_id).imported


@shared_task(name="server.crm.tasks.visit_reminders_daily")
def visit_reminders_daily() -> int:
    """Text tomorrow's promised visits their "day before" reminder (beat, at SMS_DAY_BEFORE_HOUR);
    returns how many were texted now (each order once)."""
    return work_order_services.work_orders_remind_day_before(today=timezone.localdate())


@shared_task(name="server.crm.tasks.visit_eta_sweep")
def visit_eta_sweep() -> int:
    """Recheck the ETA of every visit under way (beat, every 5 minutes): a job that runs over
    tells the next customer even when no phone reports in; a visit late a third time gets a
    callback task for staff. Returns how many customers were told or handed to staff."""
    told = work_order_services.work_orders_eta_sweep()
    callback_tasks_for_late_visits()
    return told
