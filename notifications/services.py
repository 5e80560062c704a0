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

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from notifications import messages, policy
from notifications.gateways import (
    LookupResult,
    PermanentSmsError,
    TransientSmsError,
    UnknownSmsOutcomeError,
    get_gateway,
    provider_for,
)
from notifications.messages import normalize_language
from notifications.models import OptOut, SmsMessage

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
# An UNKNOWN row is checked with the provider once it is this old (a provider's message list
# can lag a just-sent message), then again every RECHECK_EVERY while it stays unknown.
RECONCILE_AFTER = timedelta(minutes=2)
RECHECK_EVERY = timedelta(minutes=30)
RECONCILE_MAX_AGE = timedelta(days=2)
REDRIVE_BATCH = 500
# Provider error codes meaning "this number opted out with us" (Twilio 21610: replied STOP).
OPTED_OUT_CODES = frozenset({"21610"})

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
    urgent: bool = False,
    consent: bool = True,
    visit_key: str | None = None,
    params: dict[str, str] | None = None,
    time_zone: str | None = None,
    now: datetime | None = None,
) -> SmsMessage:
    """Write an SMS row and send it once the caller's transaction commits.

    Call it inside the transaction that makes the business change (e.g. the work-order
    transition): a rollback then removes the row and nothing is sent. Outside a transaction
    the send is enqueued at once. A repeated ``idempotency_key`` returns the existing row and
    enqueues nothing. ``language`` is normalised ("zh", "zh_CN" → "zh-CN", anything else →
    "en"). ``to`` must be E.164; raises ``django.core.exceptions.ValidationError`` for an
    invalid row (bad number, unknown kind, empty or over-long body).

    Hygiene (``notifications.policy``): the row is written SUPPRESSED, never sent, with the
    reason in ``error`` ("opted_out: …", "no_consent: …", "duplicate_on_my_way: …",
    "daily_cap: …") when the number opted out, the caller says the customer has no ``consent``
    for this kind, an on-my-way with the same ``visit_key`` was already queued or sent, or the
    number had ``SMS_DAILY_CAP`` texts in 24 h (``urgent`` ones are not capped). A non-urgent
    message written during quiet hours (``SMS_QUIET_HOURS`` in ``time_zone``, default
    ``settings.TIME_ZONE``) gets ``not_before`` = the end of the quiet hours and is sent by
    ``sms_redrive`` then. ``params`` are the template variables for template-based providers
    (Aliyun), stored on the row as strings.
    """
    key = idempotency_key or None
    if key is not None:
        existing = SmsMessage.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
    now = now or timezone.now()
    visit = visit_key or ""
    suppression = policy.suppression_for(to=to, kind=kind, consent=consent, urgent=urgent, visit_key=visit, now=now)
    not_before = None
    if suppression is None and not urgent and kind not in policy.REPLY_KINDS:
        not_before = policy.quiet_until(now=now, time_zone=time_zone)
    message = SmsMessage(
        to=to,
        body=body,
        kind=kind,
        language=normalize_language(language),
        idempotency_key=key,
        customer_id=customer_id,
        work_order_id=work_order_id,
        provider=provider_for(to=to),
        urgent=urgent,
        visit_key=visit,
        template_params={str(name): str(value) for name, value in (params or {}).items()},
        not_before=not_before,
    )
    if suppression is not None:
        message.status = Status.SUPPRESSED
        message.error = str(suppression)
    # The key's uniqueness is left to the database, which also settles a concurrent insert.
    message.full_clean(validate_unique=False)
    try:
        with transaction.atomic():  # a savepoint, so a lost race leaves the caller's work intact
            message.save()
    except IntegrityError:
        if key is None:
            raise
        return SmsMessage.objects.get(idempotency_key=key)
    if suppression is not None:
        logger.info("SMS %s to %s suppressed: %s", message.pk, _masked(to), suppression)
        return message
    if not_before is not None:
        # Quiet hours: the redrive sends it in the morning. Never a Celery countdown (a countdown
        # past Redis's visibility timeout is redelivered and run several times).
        return message
    # A broker outage must not fail the caller or skip its other on_commit work; redrive retries.
    _enqueue_on_commit(message.pk)
    return message


def _masked(phone: str) -> str:
    """``+8613800138000`` → ``+86138****8000`` for logs."""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else "****"


def sms_opt_out(*, phone: str, source: str, keyword: str = "") -> OptOut:
    """Record that ``phone`` (E.164) wants no more texts; a repeat keeps the first record."""
    opt_out, created = OptOut.objects.get_or_create(phone=phone, defaults={"source": source, "keyword": keyword[:32]})
    if created:
        logger.info("SMS opt-out for %s (%s %s)", _masked(phone), source, keyword)
    return opt_out


def sms_opt_in(*, phone: str, source: str = "", keyword: str = "") -> bool:
    """Remove ``phone``'s opt-out; True when there was one."""
    deleted, _ = OptOut.objects.filter(phone=phone).delete()
    if deleted:
        logger.info("SMS opt-in for %s (%s %s)", _masked(phone), source, keyword)
    return bool(deleted)


def sms_opted_out(phone: str) -> bool:
    """Has ``phone`` (E.164) opted out of our texts?"""
    return policy.sms_opted_out(phone)


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
    outcome (the provider may have the message) → UNKNOWN, never blindly resent:
    ``sms_redrive`` has ``notifications.reconcile`` ask the provider later. Raises
    ``SmsMessage.DoesNotExist`` for an unknown id.
    """
    now = timezone.now()
    message = _claim(message_id=message_id, now=now)
    if message is None:
        return SmsMessage.objects.get(pk=message_id)
    try:
        gateway = get_gateway(message.provider)
        result = gateway.send(
            to=message.to,
            body=message.body,
            kind=message.kind,
            params=message.template_params or {},
            out_id=str(message.pk),
        )
    except TransientSmsError as exc:
        return _record_transient(message, error=str(exc))
    except (PermanentSmsError, ImproperlyConfigured) as exc:
        logger.warning("SMS %s failed permanently: %s", message.pk, exc)
        if isinstance(exc, PermanentSmsError) and exc.code in OPTED_OUT_CODES:
            # The provider's own block list (the customer replied STOP to it): keep ours in step.
            sms_opt_out(phone=message.to, source=message.provider, keyword=exc.code or "")
        return _record(message, status=Status.FAILED, error=str(exc))
    except UnknownSmsOutcomeError as exc:
        logger.error("SMS %s outcome unknown, reconciling before any resend: %s", message.pk, exc)
        return _record(message, status=Status.UNKNOWN, error=f"unknown: {exc}")
    except Exception as exc:
        logger.exception("SMS %s: unexpected gateway error, reconciling before any resend", message.pk)
        return _record(message, status=Status.UNKNOWN, error=f"unknown: {type(exc).__name__}: {exc}")
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
    logger.warning(
        "SMS %s attempt %s failed (temporary), trying again in %s: %s", message.pk, message.attempts, delay, error
    )
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

    QUEUED rows created over 30 s ago whose ``not_before`` has passed (missed kicks, retry
    backoff, quiet-hours deferrals) are enqueued again (the claim drops duplicates). Rows
    SENDING for over 10 minutes belong to a worker that died mid-call: they become UNKNOWN
    ("provider call did not finish"). UNKNOWN rows due for a check are handed to
    ``notifications.reconcile`` (a task each), which asks the provider before any resend.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stuck = SmsMessage.objects.filter(status=Status.SENDING, updated_at__lt=now - SENDING_TIMEOUT).update(
            status=Status.UNKNOWN, error="unknown: provider call did not finish", updated_at=now - RECONCILE_AFTER
        )
        if stuck:
            logger.error("%s SMS stuck in SENDING: outcome unknown, reconciling with the provider", stuck)
        due_ids = list(
            SmsMessage.objects.filter(_due(now), status=Status.QUEUED, created_at__lt=now - REDRIVE_AFTER)
            .order_by("created_at")
            .values_list("pk", flat=True)[:REDRIVE_BATCH]
        )
        for message_id in due_ids:
            _enqueue_on_commit(message_id)
        unknown_ids = list(
            SmsMessage.objects.filter(
                Q(checked_at__isnull=True) | Q(checked_at__lt=now - RECHECK_EVERY),
                status=Status.UNKNOWN,
                updated_at__lte=now - RECONCILE_AFTER,
                created_at__gt=now - RECONCILE_MAX_AGE,
            )
            .order_by("created_at")
            .values_list("pk", flat=True)[:REDRIVE_BATCH]
        )
        for message_id in unknown_ids:
            _enqueue_reconcile_on_commit(message_id)
    if due_ids:
        logger.info("Re-enqueued %s queued SMS", len(due_ids))
    return len(due_ids)


def _enqueue_reconcile_on_commit(message_id: int) -> None:
    def enqueue_sms_reconcile() -> None:
        from notifications.tasks import sms_reconcile as sms_reconcile_task

        try:
            sms_reconcile_task.delay(message_id=message_id)
        except Exception:
            logger.exception("SMS %s reconcile not enqueued (broker down?); the next redrive retries", message_id)

    transaction.on_commit(enqueue_sms_reconcile, robust=True)


def sms_reconcile(*, message_id: int, now: datetime | None = None) -> SmsMessage:
    """Settle an UNKNOWN SMS with the provider's own record (``gateway.lookup``).

    Found → SENT with the provider's id. No trace → QUEUED again and sent once more (only once:
    ``resent``); a second "no trace" after that resend leaves it UNKNOWN for staff. Can't tell
    → stays UNKNOWN, listed by ``selectors.sms_unknown``. Any other status is returned
    unchanged. Must not run inside a transaction (the provider is called between commits).
    """
    now = now or timezone.now()
    message = SmsMessage.objects.get(pk=message_id)
    if message.status != Status.UNKNOWN:
        return message
    try:
        result = get_gateway(message.provider).lookup(message)
    except Exception:
        logger.exception("SMS %s: lookup failed", message.pk)
        result = LookupResult(found=None)
    with transaction.atomic(durable=True):
        message = SmsMessage.objects.select_for_update().get(pk=message_id)
        if message.status != Status.UNKNOWN:
            return message
        message.checked_at = now
        fields = ["checked_at", "updated_at"]
        if result.found:
            message.status = Status.SENT
            message.provider_message_id = result.provider_message_id or message.provider_message_id
            message.sent_at = message.sent_at or now
            message.error = ""
            fields += ["status", "provider_message_id", "sent_at", "error"]
            logger.info("SMS %s found at the provider: sent", message.pk)
        elif result.found is False and not message.resent:
            message.status = Status.QUEUED
            message.resent = True
            message.not_before = None
            message.error = "no trace at the provider: sent again"
            fields += ["status", "resent", "not_before", "error"]
            logger.warning("SMS %s unknown to the provider: sending it again (once)", message.pk)
            _enqueue_on_commit(message.pk)
        else:
            why = "no trace at the provider after one resend" if result.found is False else "the provider cannot tell"
            message.error = f"unknown: {why}"
            fields.append("error")
        message.save(update_fields=fields)
    return message


def sms_signature(language: str) -> str:
    """The company's signature for a text in ``language``: English texts carry the Latin one
    (``SMS_SIGNATURE_EN``), so a Chinese signature never turns them into short Unicode segments."""
    if messages.normalize_language(language) == messages.EN:
        return str(settings.SMS_SIGNATURE_EN or settings.SMS_SIGNATURE)
    return str(settings.SMS_SIGNATURE)
