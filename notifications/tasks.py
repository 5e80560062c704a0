"""Celery tasks: fetch by id and call the service. Retry decisions live on the outbox row.

Callers import with a suffix: ``from notifications.tasks import sms_send as sms_send_task``.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from notifications import services
from notifications.models import SmsMessage

logger = logging.getLogger(__name__)


class SmsSendTask(Task):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """The task gave up (retries exhausted or a bug): fail the row rather than loop."""
        message_id = kwargs.get("message_id", args[0] if args else None)
        if message_id is None:
            return
        try:
            services.sms_mark_failed(message_id=message_id, error=f"send task failed: {type(exc).__name__}: {exc}")
        except Exception:
            logger.exception("Could not mark SMS %s as failed", message_id)


# Autoretry only for infrastructure errors, which happen before the claim or while recording
# the result; both are safe to repeat because the claim only takes QUEUED rows.
@shared_task(
    base=SmsSendTask,
    name="notifications.tasks.sms_send",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=5,
    retry_backoff=5,
    retry_backoff_max=120,  # countdowns stay well under the visibility timeout
    retry_jitter=True,
)
def sms_send(message_id: int) -> None:
    try:
        services.sms_send(message_id=message_id)
    except SmsMessage.DoesNotExist:
        logger.warning("SMS %s no longer exists; nothing to send", message_id)


@shared_task(name="notifications.tasks.sms_redrive", ignore_result=True, acks_late=True)  # idempotent sweep
def sms_redrive() -> int:
    return services.sms_redrive()


@shared_task(
    name="notifications.tasks.sms_reconcile",
    acks_late=True,  # idempotent: only an UNKNOWN row is looked up, and a resend goes through the claim
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=120,  # countdowns stay well under the visibility timeout
)
def sms_reconcile(message_id: int) -> None:
    try:
        services.sms_reconcile(message_id=message_id)
    except SmsMessage.DoesNotExist:
        logger.warning("SMS %s no longer exists; nothing to reconcile", message_id)
