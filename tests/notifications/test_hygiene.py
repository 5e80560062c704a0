from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import TestCase
from django.utils import timezone

from notifications import policy, services
from notifications.gateways import memory
from notifications.models import OptOut, SmsMessage

pytestmark = pytest.mark.django_db

Status = SmsMessage.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = "+14155552671"


def queue(**fields: Any) -> SmsMessage:
    """Queue and run the on-commit send, as a committed business transaction would."""
    values: dict[str, Any] = {"to": PHONE, "body": "[Fixroute] Hello", "kind": "other", "language": "en"}
    values.update(fields)
    with TestCase.captureOnCommitCallbacks(execute=True):
        message = services.sms_queue(**values)
    message.refresh_from_db()
    return message


def test_opt_out_and_back_in() -> None:
    assert services.sms_opted_out(PHONE) is False
    services.sms_opt_out(phone=PHONE, source="twilio", keyword="STOP")
    services.sms_opt_out(phone=PHONE, source="aliyun", keyword="TD")  # a repeat keeps the first record
    assert services.sms_opted_out(PHONE) is True
    assert OptOut.objects.get(phone=PHONE).keyword == "STOP"
    assert services.sms_opt_in(phone=PHONE, source="twilio", keyword="START") is True
    assert services.sms_opted_out(PHONE) is False
    assert services.sms_opt_in(phone=PHONE) is False


def test_an_opted_out_number_gets_nothing_and_the_row_says_why(sms_outbox: list[memory.SentSms]) -> None:
    services.sms_opt_out(phone=PHONE, source="twilio", keyword="STOP")
    message = queue(kind="booked")
    assert message.status == Status.SUPPRESSED
    assert message.error.startswith("opted_out: ")
    assert sms_outbox == []
    # The confirmation of the opt-out itself is the one text still allowed.
    assert queue(kind="opted_out").status == Status.SENT


def test_no_consent_is_suppressed(sms_outbox: list[memory.SentSms]) -> None:
    message = queue(kind="booked", consent=False)
    assert (message.status, message.error.split(":")[0]) == (Status.SUPPRESSED, "no_consent")
    assert sms_outbox == []


def test_one_on_my_way_per_visit(sms_outbox: list[memory.SentSms]) -> None:
    first = queue(kind="on_my_way", visit_key="wo-1:visit-1")
    second = queue(kind="on_my_way", visit_key="wo-1:visit-1")
    other_visit = queue(kind="on_my_way", visit_key="wo-1:visit-2")
    assert first.status == Status.SENT
    assert (second.status, second.error.split(":")[0]) == (Status.SUPPRESSED, "duplicate_on_my_way")
    assert other_visit.status == Status.SENT
    assert len(sms_outbox) == 2


def test_a_failed_on_my_way_does_not_block_the_next_one(sms_outbox: list[memory.SentSms]) -> None:
    memory.fail_next(services.PermanentSmsError("bad"))
    assert queue(kind="on_my_way", visit_key="v").status == Status.FAILED
    assert queue(kind="on_my_way", visit_key="v").status == Status.SENT


def test_daily_cap_per_recipient_urgent_excepted(settings: Any, sms_outbox: list[memory.SentSms]) -> None:
    settings.SMS_DAILY_CAP = 3
    sent = [queue(body=f"[Fixroute] {n}") for n in range(3)]
    assert {message.status for message in sent} == {Status.SENT}
    capped = queue(body="[Fixroute] 4")
    assert (capped.status, capped.error.split(":")[0]) == (Status.SUPPRESSED, "daily_cap")
    assert queue(body="[Fixroute] urgent", urgent=True).status == Status.SENT
    assert queue(to="+14155550000").status == Status.SENT  # another number has its own cap
    assert len(sms_outbox) == 5


def test_cap_counts_only_the_last_24_hours_and_not_suppressed_or_failed_rows(settings: Any) -> None:
    settings.SMS_DAILY_CAP = 2
    now = timezone.now()
    old = queue()
    SmsMessage.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=25))
    queue(consent=False)  # suppressed
    assert policy.over_daily_cap(to=PHONE, now=now) is False
    queue()
    queue()
    assert policy.over_daily_cap(to=PHONE, now=now) is True


def test_suppressed_rows_keep_their_idempotency_key(sms_outbox: list[memory.SentSms]) -> None:
    services.sms_opt_out(phone=PHONE, source="staff")
    first = queue(idempotency_key="wo:1:booked:1")
    services.sms_opt_in(phone=PHONE)
    again = queue(idempotency_key="wo:1:booked:1")
    assert again.pk == first.pk
    assert again.status == Status.SUPPRESSED


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 30, 22, 30, tzinfo=SHANGHAI), datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 30, 6, 0, tzinfo=SHANGHAI), datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 30, 21, 0, tzinfo=SHANGHAI), datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI), None),
        (datetime(2026, 11, 30, 14, 0, tzinfo=SHANGHAI), None),
    ],
)
def test_quiet_until(local: datetime, expected: datetime | None) -> None:
    result = policy.quiet_until(now=local, time_zone="Asia/Shanghai", quiet_hours="21:00-08:00")
    assert result == expected


def test_quiet_hours_use_the_recipient_time_zone() -> None:
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai, 09:00 in New York
    assert policy.quiet_until(now=now, time_zone="America/New_York", quiet_hours="21:00-08:00") is None
    assert policy.quiet_until(now=now, time_zone="Asia/Shanghai", quiet_hours="21:00-08:00") == datetime(
        2026, 12, 1, 8, 0, tzinfo=SHANGHAI
    )


def test_bad_quiet_hours_setting_is_a_clear_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        policy.parse_quiet_hours("9pm to 8am")


def test_a_text_at_night_waits_for_the_morning_and_redrive_sends_it_then(
    settings: Any,
    sms_outbox: list[memory.SentSms],
    django_capture_on_commit_callbacks: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    settings.TIME_ZONE = "Asia/Shanghai"
    night = datetime(2026, 11, 30, 23, 15, tzinfo=SHANGHAI)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = queue(kind="completed", now=night)
    assert callbacks == []  # no task, and never a Celery countdown
    assert message.status == Status.QUEUED
    assert message.not_before == datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)
    # Created "at night": the row's created_at is the real clock, so redrive at 07:59 vs 08:00.
    SmsMessage.objects.filter(pk=message.pk).update(created_at=night)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_redrive(now=datetime(2026, 12, 1, 7, 59, tzinfo=SHANGHAI)) == 0
    assert sms_outbox == []
    morning = datetime(2026, 12, 1, 8, 0, 30, tzinfo=SHANGHAI)
    monkeypatch.setattr(timezone, "now", lambda: morning)  # the clock the send's claim reads
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_redrive(now=morning) == 1
    assert [sms.out_id for sms in sms_outbox] == [str(message.pk)]
    assert SmsMessage.objects.get(pk=message.pk).status == Status.SENT


def test_urgent_texts_and_answers_go_out_at_night(settings: Any, sms_outbox: list[memory.SentSms]) -> None:
    settings.SMS_QUIET_HOURS = "21:00-08:00"
    night = datetime(2026, 11, 30, 23, 15, tzinfo=SHANGHAI)
    assert queue(kind="running_late", urgent=True, now=night, time_zone="Asia/Shanghai").status == Status.SENT
    assert queue(kind="eta_answer", now=night, time_zone="Asia/Shanghai").status == Status.SENT
    assert queue(kind="day_before", now=night, time_zone="Asia/Shanghai").status == Status.QUEUED


def test_template_params_are_stored_as_strings(sms_outbox: list[memory.SentSms]) -> None:
    message = queue(kind="on_my_way", params={"name": "张师傅", "start": "10:20", "minutes": 5})  # type: ignore[dict-item]
    assert message.template_params == {"name": "张师傅", "start": "10:20", "minutes": "5"}
    assert sms_outbox[0].params == {"name": "张师傅", "start": "10:20", "minutes": "5"}
    assert sms_outbox[0].kind == "on_my_way"


def test_a_twilio_stop_error_opts_the_number_out(sms_outbox: list[memory.SentSms]) -> None:
    memory.fail_next(services.PermanentSmsError("unsubscribed recipient", code="21610"))
    assert queue().status == Status.FAILED
    assert services.sms_opted_out(PHONE) is True
