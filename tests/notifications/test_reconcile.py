from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone

from notifications import selectors, services
from notifications.gateways import UnknownSmsOutcomeError, memory
from notifications.models import SmsMessage

pytestmark = pytest.mark.django_db

Status = SmsMessage.Status


def queue() -> SmsMessage:
    with TestCase.captureOnCommitCallbacks(execute=True):
        message = services.sms_queue(to="+14155552671", body="[Fixroute] Hi", kind="arrived", language="en")
    message.refresh_from_db()
    return message


def redrive_later(minutes: int, capture: Callable[..., Any]) -> None:
    with capture(execute=True):
        services.sms_redrive(now=timezone.now() + timedelta(minutes=minutes))


def test_a_timeout_after_the_provider_took_it_is_found_and_marked_sent_without_a_duplicate(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    memory.deliver_then_fail(UnknownSmsOutcomeError("read timed out"))
    message = queue()
    assert message.status == Status.UNKNOWN
    assert len(sms_outbox) == 1
    redrive_later(1, django_capture_on_commit_callbacks)  # too early: the provider's list may lag
    assert SmsMessage.objects.get(pk=message.pk).status == Status.UNKNOWN
    redrive_later(3, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_message_id == sms_outbox[0].provider_message_id
    assert message.sent_at is not None
    assert len(sms_outbox) == 1


def test_a_worker_killed_mid_send_is_resent_once_when_the_provider_has_no_trace(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    memory.fail_next(UnknownSmsOutcomeError("connection reset after the request was written"))
    message = queue()
    assert message.status == Status.UNKNOWN
    assert sms_outbox == []
    redrive_later(3, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert (message.status, message.resent) == (Status.SENT, True)
    assert [sms.out_id for sms in sms_outbox] == [str(message.pk)]


def test_no_trace_after_the_one_resend_stays_unknown_for_staff(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    memory.fail_next(UnknownSmsOutcomeError("timeout"), times=2)
    message = queue()
    redrive_later(3, django_capture_on_commit_callbacks)  # no trace → sent again → unknown again
    message.refresh_from_db()
    assert (message.status, message.resent, message.attempts) == (Status.UNKNOWN, True, 2)
    later = timezone.now() + timedelta(minutes=40)
    message = services.sms_reconcile(message_id=message.pk, now=later)
    assert message.status == Status.UNKNOWN
    assert message.error == "unknown: no trace at the provider after one resend"
    assert sms_outbox == []
    assert list(selectors.sms_unknown()) == [message]


def test_a_provider_that_cannot_tell_leaves_it_unknown_and_listed(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    memory.lookup_missing[:] = [None]
    memory.fail_next(UnknownSmsOutcomeError("timeout"))
    message = queue()
    redrive_later(3, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == Status.UNKNOWN
    assert message.error == "unknown: the provider cannot tell"
    assert message.checked_at is not None
    assert list(selectors.sms_unknown()) == [message]
    assert sms_outbox == []


def test_a_worker_that_died_holding_the_row_is_reconciled_after_the_sending_timeout(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # The provider took it, then the worker died before recording anything: SENDING forever.
    message = SmsMessage.objects.create(
        to="+14155552671", body="b", kind="arrived", language="en", provider="memory", status=Status.SENDING, attempts=1
    )
    memory.MemoryGateway().send(to=message.to, body=message.body, out_id=str(message.pk))
    redrive_later(5, django_capture_on_commit_callbacks)
    assert SmsMessage.objects.get(pk=message.pk).status == Status.SENDING
    redrive_later(11, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert len(sms_outbox) == 1


def test_reconcile_leaves_settled_rows_alone(sms_outbox: list[memory.SentSms]) -> None:
    message = queue()
    assert message.status == Status.SENT
    assert services.sms_reconcile(message_id=message.pk).status == Status.SENT
    assert len(sms_outbox) == 1
