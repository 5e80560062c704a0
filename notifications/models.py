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
    provider error; only ``notifications.services`` writes it. ``customer_id`` and
    ``work_order_id`` are loose references (no foreign keys) so this app never imports
    ``server``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        ON_MY_WAY = "on_my_way", "On my way"
        ARRIVED = "arrived", "Arrived"
        DONE = "done", "Done"
        ETA_UPDATE = "eta_update", "ETA update"
        REMINDER = "reminder", "Maintenance reminder"
        OTHER = "other", "Other"

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

    class Meta:
        verbose_name = "SMS message"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "sending", "sent", "failed"]),
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
