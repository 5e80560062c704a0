"""The SMS outbox: one row per message, written in the same transaction as the business event."""

from __future__ import annotations

from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models

# E.164: "+", a country code not starting with 0, at most 15 digits in all.
e164_validator = RegexValidator(r"^\+[1-9]\d{6,14}$", "Enter the phone number in E.164 form, e.g. +8613800138000.")

# Twilio's limit for one message (it is split into billed segments beyond 70/160 characters).
MAX_BODY_LENGTH = 1600


class SmsMessage(models.Model):
    """An SMS to a customer and its delivery state.

    Status moves QUEUED → SENDING → SENT | FAILED, and SENDING → QUEUED for a transient
    provider error; SENDING → UNKNOWN when the outcome is ambiguous (a timeout after the request
    was written, a worker killed mid-call) until reconciliation with the provider settles it;
    SUPPRESSED rows were never sent (opt-out, no consent, daily cap, duplicate on-my-way) and say
    why in ``error``. ``delivery_status`` is the provider's later report (only moves forward).
    Only ``notifications.services`` writes these. ``customer_id`` and
    ``work_order_id`` are loose references (no foreign keys) so this app never imports
    ``server``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"
        UNKNOWN = "unknown", "Unknown (check with the provider)"

    class Delivery(models.TextChoices):
        """The provider's delivery report, ranked: a report never moves the state backwards."""

        NONE = "", "No report"
        QUEUED = "queued", "Queued at the provider"
        SENT = "sent", "Handed to the carrier"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        ON_MY_WAY = "on_my_way", "On my way"
        ARRIVED = "arrived", "Arrived"
        DONE = "done", "Done"
        ETA_UPDATE = "eta_update", "ETA update"
        REMINDER = "reminder", "Maintenance reminder"
        OTHER = "other", "Other"
        BOOKED = "booked", "Booked"
        DAY_BEFORE = "day_before", "Day-before reminder"
        RUNNING_LATE = "running_late", "Running late"
        COMPLETED = "completed", "Completed"
        RESCHEDULED = "rescheduled", "Rescheduled"
        CANCELLED = "cancelled", "Cancelled"
        ETA_ANSWER = "eta_answer", "Answer to where are you"
        OPTED_OUT = "opted_out", "Opt-out confirmation"
        OPTED_IN = "opted_in", "Opt-in confirmation"

    class Language(models.TextChoices):
        ZH_CN = "zh-CN", "Chinese (simplified)"
        EN = "en", "English"

    to = models.CharField(max_length=16, validators=[e164_validator], db_index=True)
    body = models.TextField(validators=[MaxLengthValidator(MAX_BODY_LENGTH)])
    language = models.CharField(max_length=10, choices=Language.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider = models.CharField(max_length=32)
    provider_message_id = models.CharField(max_length=64, blank=True, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Unique per (work order, event, version) so a repeated event collapses into one message.
    idempotency_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    work_order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Not sent before this time: retry backoff now, quiet hours later. Never a Celery countdown.
    not_before = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Urgent messages ignore quiet hours and the daily cap (the visit is happening now).
    urgent = models.BooleanField(default=False)
    # "One on-my-way per visit": a second on_my_way with the same key is suppressed.
    visit_key = models.CharField(max_length=100, blank=True, db_index=True)
    # Template variables for template-based providers (Aliyun): all values strings.
    template_params = models.JSONField(default=dict, blank=True)
    # Reconciliation found no trace at the provider and sent it again (at most once).
    resent = models.BooleanField(default=False)
    # When reconciliation last asked the provider about this (UNKNOWN) row.
    checked_at = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(max_length=16, choices=Delivery.choices, blank=True, default="")
    delivery_error = models.CharField(max_length=64, blank=True)
    delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SMS message"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "sending", "sent", "failed", "suppressed", "unknown"]),
                name="notifications_sms_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="notifications_sms_sent_has_sent_at",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="notifications_sms_due_idx"),
        ]

    def __str__(self) -> str:
        return f"SMS {self.pk} to {self.to} ({self.status})"


class OptOut(models.Model):
    """A phone number that asked for no more texts (STOP, 退订, TD…). Deleted on opt-in."""

    phone = models.CharField(max_length=16, validators=[e164_validator], unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=32)  # "twilio", "aliyun", "staff"…
    keyword = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "SMS opt-out"

    def __str__(self) -> str:
        return f"Opt-out {self.phone} ({self.keyword or self.source})"


class InboundSms(models.Model):
    """A text a customer sent us, recorded once per provider message id.

    ``handled_at`` is set when the reply handler (settings.SMS_REPLY_HANDLER) or the opt-out
    keywords dealt with it; empty means staff should look at it. ``outcome`` says what happened.
    """

    provider = models.CharField(max_length=32)
    provider_message_id = models.CharField(max_length=100)
    from_phone = models.CharField(max_length=32, db_index=True)
    to_phone = models.CharField(max_length=32, blank=True)
    body = models.TextField(blank=True)
    received_at = models.DateTimeField(db_index=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"], name="notifications_inbound_unique_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return f"SMS from {self.from_phone} ({self.provider})"
