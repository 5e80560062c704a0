"""SMS outbox services: queue a message inside the business transaction, send it once later.

Flow (brief §3.6): ``sms_queue`` writes a QUEUED row in the caller's transaction and enqueues
``sms_send`` on commit. ``sms_send`` claims the row (QUEUED → SENDING, committed), calls the
provider once outside any transaction, and records the outcome. The row, not the Celery
message, carries retries: a transient error puts it back to QUEUED with ``not_before`` in the
future, and ``sms_redrive`` (beat, every 60 s) re-enqueues due rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from notifications.gateways import (
    PermanentSmsError,
    TransientSmsError,
    UnknownSmsOutcomeError,
    get_gateway,
    provider_for,
)
from notifications.messages import normalize_language
from notifications.models import SmsMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(minutes=10)
# Shorter retry delays than this are kicked with a Celery countdown as well as left to redrive
# (the beat interval); the claim makes a duplicate kick harmless.
RETRY_KICK_BELOW = timedelta(seconds=60)
# A QUEUED row this old whose not_before passed was missed by on_commit (crash, broker down).
REDRIVE_AFTER = timedelta(seconds=30)
# A row SENDING this long belongs to a worker that died mid-call: its outcome is unknown.
SENDING_TIMEOUT = timedelta(minutes=10)
REDRIVE_BATCH = 500

Status = SmsMessage.Status


def _enqueue_send(message_id: int, *, countdown: float | None = None) -> None:
    # Imported here: tasks import this module.
    from notifications.tasks import sms_send as sms_send_task

    if countdown is None:
        sms_send_task.delay(message_id=message_id)
    else:
        sms_send_task.apply_async(kwargs={"message_id": message_id}, countdown=countdown)


def _enqueue_on_commit(message_id: int, *, countdown: float | None = None) -> None:
    """Enqueue the send once the current transaction commits (at once outside one).

    The hook never raises: a broker that is down is logged and the row stays QUEUED for
    ``sms_redrive``, so the caller's committed work answers normally and the transaction's later
    hooks still run. It is a named function, not a partial: Django's robust on_commit path logs
    the hook's ``__qualname__``, which a partial does not have.
    """

    def enqueue_sms_send() -> None:
        try:
            _enqueue_send(message_id, countdown=countdown)
        except Exception:
            logger.exception("SMS %s not enqueued (broker unavailable?); sms_redrive retries it", message_id)

    transaction.on_commit(enqueue_sms_send, robust=True)


def _due(now: datetime) -> Q:
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def retry_delay(*, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s … capped at 10 min."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)


def sms_queue(
    *,
    to: str,
    body: str,
    kind: str,
    language: str,
    idempotency_key: str | None = None,
    customer_id: int | None = None,
    work_order_id: int | None = None,
) -> SmsMessage:
    """Write a QUEUED SMS and send it once the caller's transaction commits.

    Call it inside the transaction that makes the business change (e.g. the work-order
    transition): a rollback then removes the row and nothing is sent. Outside a transaction
    the send is enqueued at once. A repeated ``idempotency_key`` returns the existing row and
    enqueues nothing. ``language`` is normalised ("zh", "zh_CN" → "zh-CN", anything else →
    "en"). ``to`` must be E.164; raises ``django.core.exceptions.ValidationError`` for an
    invalid row (bad number, unknown kind, empty or over-long body).
    """
    key = idempotency_key or None
    if key is not None:
        existing = SmsMessage.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    message = SmsMessage(
        to=to,
        body=body,
        kind=kind,
        language=normalize_language(language),
        idempotency_key=key,
        customer_id=customer_id,
        work_order_id=work_order_id,
        provider=provider_for(to=to),
    )
    # The key's uniqueness is left to the database, which also settles a concurrent insert.
    message.full_clean(validate_unique=False)
    try:
        with transaction.atomic():  # a savepoint, so a lost race leaves the caller's work intact
            message.save()
    except IntegrityError:
        if key is None:
            raise
        return SmsMessage.objects.get(idempotency_key=key)
    # A broker outage must not fail the caller or skip its other on_commit work; redrive retries.
    _enqueue_on_commit(message.pk)
    return message


def _claim(*, message_id: int, now: datetime) -> SmsMessage | None:
    # durable: the SENDING mark must be committed before the provider is called, so this
    # refuses to run inside a caller's transaction.
    with transaction.atomic(durable=True):
        message = (
            SmsMessage.objects.select_for_update(skip_locked=True)
            .filter(_due(now), pk=message_id, status=Status.QUEUED)
            .first()
        )
        if message is None:
            return None
        message.status = Status.SENDING
        message.attempts += 1
        message.save(update_fields=["status", "attempts", "updated_at"])
    return message


def _record(message: SmsMessage, **changes: object) -> SmsMessage:
    for field, value in changes.items():
        setattr(message, field, value)
    with transaction.atomic(durable=True):
        message.save(update_fields=[*changes, "updated_at"])
    return message


def sms_send(*, message_id: int) -> SmsMessage:
    """Send a queued SMS through its provider, at most once per claim.

    Only a QUEUED row whose ``not_before`` has passed is claimed (``SELECT … FOR UPDATE SKIP
    LOCKED``); any other row is returned unchanged, so a duplicate task delivery never sends
    twice. Must not run inside a transaction (the claim is committed before the provider call).
    On SQLite ``select_for_update`` is a no-op and SQLite's single writer serialises the claim.

    Outcomes: SENT with the provider id; a transient error → QUEUED with exponential
    ``not_before`` (FAILED after ``MAX_ATTEMPTS``); a permanent error → FAILED; an unknown
    outcome (the provider may have the message) → FAILED with an ``unknown:`` error, never
    resent. Raises ``SmsMessage.DoesNotExist`` for an unknown id.
    """
    now = timezone.now()
    message = _claim(message_id=message_id, now=now)
    if message is None:
        return SmsMessage.objects.get(pk=message_id)
    try:
        gateway = get_gateway(message.provider)
        result = gateway.send(to=message.to, body=message.body)
    except TransientSmsError as exc:
        return _record_transient(message, error=str(exc))
    except (PermanentSmsError, ImproperlyConfigured) as exc:
        logger.warning("SMS %s failed permanently: %s", message.pk, exc)
        return _record(message, status=Status.FAILED, error=str(exc))
    except UnknownSmsOutcomeError as exc:
        logger.error("SMS %s outcome unknown, not resending: %s", message.pk, exc)
        return _record(message, status=Status.FAILED, error=f"unknown: {exc}")
    except Exception as exc:
        logger.exception("SMS %s: unexpected gateway error, not resending", message.pk)
        return _record(message, status=Status.FAILED, error=f"unknown: {type(exc).__name__}: {exc}")
    return _record(
        message,
        status=Status.SENT,
        provider_message_id=result.provider_message_id,
        sent_at=timezone.now(),
        error="",
    )


def _record_transient(message: SmsMessage, *, error: str) -> SmsMessage:
    if message.attempts >= MAX_ATTEMPTS:
        logger.warning("SMS %s failed after %s attempts: %s", message.pk, message.attempts, error)
        return _record(
            message,
            status=Status.FAILED,
            error=f"gave up after {message.attempts} attempts: {error}",
        )
    delay = retry_delay(attempts=message.attempts)
    _record(message, status=Status.QUEUED, not_before=timezone.now() + delay, error=error)
    if delay < RETRY_KICK_BELOW:
        _enqueue_on_commit(message.pk, countdown=delay.total_seconds())
    return message


def sms_mark_failed(*, message_id: int, error: str) -> SmsMessage:
    """Mark a QUEUED or SENDING SMS as FAILED with ``error``; SENT and FAILED rows are kept.

    Used when the send task gives up (e.g. the database stayed unreachable).
    """
    with transaction.atomic():
        message = SmsMessage.objects.select_for_update().get(pk=message_id)
        if message.status not in (Status.QUEUED, Status.SENDING):
            return message
        message.status = Status.FAILED
        message.error = error
        message.save(update_fields=["status", "error", "updated_at"])
    return message


def sms_redrive(*, now: datetime | None = None) -> int:
    """Recover what ``on_commit`` and crashed workers left behind; return how many were re-enqueued.

    QUEUED rows created over 30 s ago whose ``not_before`` has passed are enqueued again (the
    claim drops duplicates). Rows SENDING for over 10 minutes are marked FAILED with
    ``unknown: provider call did not finish``: the provider may have the message, so they are
    never blindly resent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stuck = SmsMessage.objects.filter(status=Status.SENDING, updated_at__lt=now - SENDING_TIMEOUT).update(
            status=Status.FAILED, error="unknown: provider call did not finish", updated_at=now
        )
        if stuck:
            logger.error("Marked %s SMS stuck in SENDING as failed (outcome unknown)", stuck)
        due_ids = list(
            SmsMessage.objects.filter(_due(now), status=Status.QUEUED, created_at__lt=now - REDRIVE_AFTER)
            .order_by("created_at")
            .values_list("pk", flat=True)[:REDRIVE_BATCH]
        )
        for message_id in due_ids:
            _enqueue_on_commit(message_id)
    if due_ids:
        logger.info("Re-enqueued %s queued SMS", len(due_ids))
    return len(due_ids)
