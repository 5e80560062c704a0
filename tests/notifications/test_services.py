from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications import services
from notifications.gateways import PermanentSmsError, TransientSmsError, memory
from notifications.models import SmsMessage

pytestmark = pytest.mark.django_db

Status = SmsMessage.Status


def queue(**overrides: Any) -> SmsMessage:
    values: dict[str, Any] = {
        "to": "+8613800138000",
        "body": "【品牌】您的工程师张师傅已出发，预计40分钟后到达",
        "kind": "on_my_way",
        "language": "zh-CN",
        "work_order_id": 7,
        "customer_id": 3,
    }
    values.update(overrides)
    return services.sms_queue(**values)


def make_due(message: SmsMessage) -> None:
    SmsMessage.objects.filter(pk=message.pk).update(not_before=timezone.now() - timedelta(seconds=1))


def test_queue_in_transaction_sends_after_commit(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            message = queue()
            assert message.status == Status.QUEUED
            assert message.provider == "memory"
            assert sms_outbox == []  # nothing goes out before the commit
        assert sms_outbox == []
    assert len(callbacks) == 1

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert message.provider_message_id == sms_outbox[0].provider_message_id
    assert [(sms.to, sms.body) for sms in sms_outbox] == [("+8613800138000", message.body)]


def test_rollback_sends_nothing_and_leaves_no_row(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    class TransitionRefusedError(Exception):
        pass

    def transition_that_fails_after_queueing() -> None:
        with transaction.atomic():
            queue()
            raise TransitionRefusedError

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(TransitionRefusedError),
    ):
        transition_that_fails_after_queueing()
    assert callbacks == []
    assert sms_outbox == []
    assert not SmsMessage.objects.exists()


def test_same_idempotency_key_gives_one_row_and_one_send(
    sms_outbox: list[memory.SentSms], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = queue(idempotency_key="7:on_my_way:1")
        second = queue(idempotency_key="7:on_my_way:1", body="a different text")
    assert second.pk == first.pk
    assert len(callbacks) == 1
    assert SmsMessage.objects.count() == 1
    assert len(sms_outbox) == 1


def test_lost_insert_race_returns_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    winner = queue(idempotency_key="k")
    # Simulate a concurrent transaction inserting between our lookup and our insert.
    real_filter = SmsMessage.objects.filter
    monkeypatch.setattr(SmsMessage.objects, "filter", lambda **kw: real_filter(pk=-1) if kw else real_filter())
    again = queue(idempotency_key="k")
    monkeypatch.undo()
    assert again.pk == winner.pk
    assert SmsMessage.objects.count() == 1


def test_queue_rejects_a_non_e164_number() -> None:
    with pytest.raises(ValidationError) as excinfo:
        queue(to="138 0013 8000")
    assert "to" in excinfo.value.message_dict
    assert not SmsMessage.objects.exists()


@pytest.mark.parametrize(("language", "stored"), [("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("en-GB", "en"), ("fr", "en")])
def test_queue_normalises_the_language(language: str, stored: str) -> None:
    assert queue(language=language).language == stored


def test_queue_rejects_unknown_kind() -> None:
    with pytest.raises(ValidationError):
        queue(kind="party")


def test_status_check_constraint_holds_in_the_database() -> None:
    message = queue()
    with pytest.raises(IntegrityError), transaction.atomic():
        SmsMessage.objects.filter(pk=message.pk).update(status="lost")


def test_transient_error_requeues_with_backoff_then_fails(
    sms_outbox: list[memory.SentSms],
) -> None:
    message = queue()
    memory.fail_next(TransientSmsError("Twilio HTTP 503: busy"), times=services.MAX_ATTEMPTS)

    delays = []
    for attempt in range(1, services.MAX_ATTEMPTS):
        before = timezone.now()
        message = services.sms_send(message_id=message.pk)
        assert message.status == Status.QUEUED
        assert message.attempts == attempt
        assert message.error == "Twilio HTTP 503: busy"
        delays.append(round((message.not_before - before).total_seconds()))
        # Not due yet: a second delivery of the task is a no-op.
        assert services.sms_send(message_id=message.pk).attempts == attempt
        make_due(message)

    assert delays == [10, 20, 40, 80]
    message = services.sms_send(message_id=message.pk)
    assert message.status == Status.FAILED
    assert message.attempts == services.MAX_ATTEMPTS
    assert message.error.startswith("gave up after 5 attempts")
    assert sms_outbox == []


def test_transient_error_then_success(
    sms_outbox: list[memory.SentSms],
    django_capture_on_commit_callbacks: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = queue()
    memory.fail_next(TransientSmsError("rate limited", code="20429"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, caplog.at_level("WARNING"):
        assert services.sms_send(message_id=message.pk).status == Status.QUEUED
    assert f"SMS {message.pk} attempt 1 failed (temporary), trying again in 0:00:10: 20429: rate limited" in caplog.text
    # A short backoff is also kicked with a countdown; run eagerly it finds the row not yet due.
    assert len(callbacks) == 1
    assert SmsMessage.objects.get(pk=message.pk).attempts == 1
    make_due(message)
    message = services.sms_send(message_id=message.pk)
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert message.error == ""
    assert len(sms_outbox) == 1


def test_retry_delay_is_capped() -> None:
    assert services.retry_delay(attempts=1) == timedelta(seconds=10)
    assert services.retry_delay(attempts=7) == timedelta(minutes=10)


def test_permanent_error_fails_without_retry(sms_outbox: list[memory.SentSms]) -> None:
    message = queue()
    memory.fail_next(PermanentSmsError("Twilio HTTP 400: unsubscribed", code="21610"))
    message = services.sms_send(message_id=message.pk)
    assert message.status == Status.FAILED
    assert message.error == "21610: Twilio HTTP 400: unsubscribed"
    assert message.attempts == 1


def test_unexpected_gateway_error_is_unknown_and_not_retried(
    sms_outbox: list[memory.SentSms],
) -> None:
    message = queue()
    memory.fail_next(RuntimeError("socket closed"))
    message = services.sms_send(message_id=message.pk)
    assert message.status == Status.UNKNOWN
    assert message.error == "unknown: RuntimeError: socket closed"
    assert message.not_before is None
    assert sms_outbox == []


def test_unknown_provider_on_the_row_fails_it(sms_outbox: list[memory.SentSms]) -> None:
    message = queue()
    SmsMessage.objects.filter(pk=message.pk).update(provider="pigeon")
    message = services.sms_send(message_id=message.pk)
    assert message.status == Status.FAILED
    assert "Unknown SMS provider 'pigeon'" in message.error


def test_send_on_a_sent_row_sends_nothing(sms_outbox: list[memory.SentSms]) -> None:
    message = services.sms_send(message_id=queue().pk)
    assert message.status == Status.SENT
    again = services.sms_send(message_id=message.pk)
    assert again.status == Status.SENT
    assert again.attempts == 1
    assert len(sms_outbox) == 1


@pytest.mark.parametrize("status", [Status.SENDING, Status.FAILED])
def test_send_leaves_claimed_and_failed_rows_alone(sms_outbox: list[memory.SentSms], status: str) -> None:
    message = queue()
    SmsMessage.objects.filter(pk=message.pk).update(status=status)
    assert services.sms_send(message_id=message.pk).status == status
    assert sms_outbox == []


def test_send_refuses_to_run_inside_a_transaction(sms_outbox: list[memory.SentSms]) -> None:
    message = queue()
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.sms_send(message_id=message.pk)
    assert sms_outbox == []


def test_mark_failed_only_touches_unfinished_rows(sms_outbox: list[memory.SentSms]) -> None:
    queued = queue()
    sent = services.sms_send(message_id=queue(idempotency_key="b").pk)
    assert services.sms_mark_failed(message_id=queued.pk, error="gave up").status == Status.FAILED
    assert services.sms_mark_failed(message_id=sent.pk, error="gave up").status == Status.SENT
    queued.refresh_from_db()
    assert queued.error == "gave up"


@pytest.mark.django_db(transaction=True)
def test_real_commit_sends_once(sms_outbox: list[memory.SentSms]) -> None:
    """Outside the test-case transaction: on_commit fires on a real commit, the claim is durable."""
    with transaction.atomic():
        message = queue(idempotency_key="7:on_my_way:1")
        assert sms_outbox == []
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert len(sms_outbox) == 1
    queue(idempotency_key="7:on_my_way:1")  # outside a transaction: would enqueue at once
    assert len(sms_outbox) == 1
