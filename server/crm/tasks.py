"""Celery tasks of the customer record: each only calls a service."""

from __future__ import annotations

import dataclasses
from typing import Any

from celery import shared_task
from django.utils import timezone

from server.crm.services import imports, privacy, reminders


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
