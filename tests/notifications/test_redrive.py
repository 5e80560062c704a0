from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from notifications import services
from notifications.gateways import memory
from notifications.models import SmsMessage

pytestmark = pytest.mark.django_db

Status = SmsMessage.Status


def row(**fields: Any) -> SmsMessage:
    """A row written behind the services' back, as if on_commit had been missed."""
    values: dict[str, Any] = {
        "to": "+14155552671",
        "body": "[Fixroute] Your technician Ann has arrived.",
        "kind": "arrived",
        "language": "en",
        "provider": "memory",
    }
    values.update(fields)
    return SmsMessage.objects.create(**values)


def test_redrive_sends_queued_rows_that_on_commit_missed(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    missed = row()
    retry_due = row(not_before=timezone.now(), attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        count = services.sms_redrive(now=timezone.now() + timedelta(seconds=31))
    assert count == 2
    assert {sms.provider_message_id for sms in sms_outbox} == {
        SmsMessage.objects.get(pk=missed.pk).provider_message_id,
        SmsMessage.objects.get(pk=retry_due.pk).provider_message_id,
    }
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {Status.SENT}


def test_redrive_leaves_fresh_and_deferred_rows(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    now = timezone.now()
    row()  # younger than 30 s at ``now``: its own on_commit is probably still on the way
    row(not_before=now + timedelta(minutes=5))
    row(status=Status.SENT, sent_at=now)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert services.sms_redrive(now=now) == 0
    assert callbacks == []
    assert sms_outbox == []


def test_redrive_reconciles_rows_stuck_in_sending(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    stuck = row(status=Status.SENDING, attempts=1)
    recent = row(status=Status.SENDING, attempts=1)
    later = timezone.now() + timedelta(minutes=10, seconds=1)
    SmsMessage.objects.filter(pk=recent.pk).update(updated_at=later - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_redrive(now=later) == 0

    stuck.refresh_from_db()
    recent.refresh_from_db()
    # Reconciled at once (it is 10 minutes old): the memory provider has no trace of it, so it
    # was sent again, once; the recent one is left alone.
    assert stuck.status == Status.SENT
    assert stuck.resent is True
    assert [sms.out_id for sms in sms_outbox] == [str(stuck.pk)]
    assert recent.status == Status.SENDING
