"""Sending hygiene: quiet hours, the per-recipient daily cap, opt-outs and one on-my-way per visit.

Pure decisions plus small queries; ``notifications.services.sms_queue`` applies them when a
message is queued (brief §3.3, §3.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from notifications.models import OptOut, SmsMessage

# Texts answering the customer's own message: sent at once, whatever the hour or the cap.
REPLY_KINDS = frozenset({"eta_answer", "opted_out", "opted_in"})
# Confirmations of an opt-out/in: the one text an opted-out number still gets.
CONFIRMATION_KINDS = frozenset({"opted_out", "opted_in"})
# Rows that count towards the daily cap: sent, or about to be.
CAP_STATUSES = (SmsMessage.Status.SENT, SmsMessage.Status.QUEUED, SmsMessage.Status.SENDING)
CAP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a message is not sent: ``code`` for programs, ``text`` for the timeline."""

    code: str
    text: str

    def __str__(self) -> str:
        return f"{self.code}: {self.text}"


OPTED_OUT = Suppression("opted_out", "the number opted out of text messages")
NO_CONSENT = Suppression("no_consent", "the customer has not consented to this kind of message")
DAILY_CAP = Suppression("daily_cap", "the daily limit of text messages to this number was reached")
DUPLICATE_ON_MY_WAY = Suppression("duplicate_on_my_way", "an on-my-way text was already sent for this visit")


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """``"21:00-08:00"`` → (21:00, 08:00); an empty value means no quiet hours.

    Raises ``ImproperlyConfigured`` for anything else.
    """
    value = value.strip()
    if not value:
        return None
    try:
        start_text, end_text = value.split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError:
        raise ImproperlyConfigured(f"SMS_QUIET_HOURS must look like '21:00-08:00', got {value!r}") from None
    if start == end:
        return None
    return start, end


def _in_window(moment: time, start: time, end: time) -> bool:
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # spans midnight


def quiet_until(*, now: datetime, time_zone: str | None = None, quiet_hours: str | None = None) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (an aware datetime), or None outside them.

    Quiet hours are read in ``time_zone`` (the recipient's; default ``settings.TIME_ZONE``) from
    ``quiet_hours`` (default ``settings.SMS_QUIET_HOURS``). 22:30 with "21:00-08:00" gives
    08:00 the next morning; 06:00 gives 08:00 the same day.
    """
    window = parse_quiet_hours(settings.SMS_QUIET_HOURS if quiet_hours is None else quiet_hours)
    if window is None:
        return None
    start, end = window
    zone = ZoneInfo(time_zone or settings.TIME_ZONE)
    local = now.astimezone(zone)
    if not _in_window(local.time(), start, end):
        return None
    end_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone)


def sms_opted_out(phone: str) -> bool:
    """Has ``phone`` (E.164) opted out of our texts?"""
    return OptOut.objects.filter(phone=phone).exists()


def over_daily_cap(*, to: str, now: datetime, cap: int | None = None) -> bool:
    """Have ``cap`` (default ``settings.SMS_DAILY_CAP``) texts to ``to`` been sent or queued in 24 h?"""
    limit = int(settings.SMS_DAILY_CAP if cap is None else cap)
    if limit <= 0:
        return False
    recent = SmsMessage.objects.filter(to=to, status__in=CAP_STATUSES, created_at__gt=now - CAP_WINDOW)
    return recent.count() >= limit


def on_my_way_already(*, visit_key: str) -> bool:
    """Was an on-my-way text for this visit queued or sent already (not suppressed or failed)?"""
    return (
        SmsMessage.objects.filter(kind=SmsMessage.Kind.ON_MY_WAY, visit_key=visit_key)
        .exclude(status__in=(SmsMessage.Status.SUPPRESSED, SmsMessage.Status.FAILED))
        .exists()
    )


def suppression_for(
    *, to: str, kind: str, consent: bool, urgent: bool, visit_key: str, now: datetime
) -> Suppression | None:
    """Why a new message must not be sent, or None. Checked in this order: opt-out, consent,
    duplicate on-my-way, daily cap (urgent messages and replies are not capped)."""
    confirmation = kind in CONFIRMATION_KINDS
    if not confirmation and sms_opted_out(to):
        return OPTED_OUT
    if not confirmation and not consent:
        return NO_CONSENT
    if kind == SmsMessage.Kind.ON_MY_WAY and visit_key and on_my_way_already(visit_key=visit_key):
        return DUPLICATE_ON_MY_WAY
    if not urgent and kind not in REPLY_KINDS and over_daily_cap(to=to, now=now):
        return DAILY_CAP
    return None
