from __future__ import annotations

from django.conf import settings
from django.db import models

from server.common.models import BaseModel


class CallOutcome(models.TextChoices):
    CREATED = "created", "Created a work order"
    JOINED = "joined", "Joined an open work order"
    # The caller ID was withheld or is not a phone number: an order for staff and a callback task.
    UNIDENTIFIED = "unidentified", "Caller not identified; staff call back"


class CallRecord(BaseModel):
    """One inbound call, as the phone system reported it. (provider, call_id) is the idempotency key."""

    Outcome = CallOutcome

    provider = models.CharField(max_length=20)  # twilio | cti
    call_id = models.CharField(max_length=100)
    caller_raw = models.CharField(max_length=100, blank=True)
    caller_phone = models.CharField(max_length=20, blank=True)  # E.164, empty when unparseable
    called_number = models.CharField(max_length=40, blank=True)
    call_status = models.CharField(max_length=30, blank=True)
    ivr_digits = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="calls", null=True, blank=True
    )
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.PROTECT, related_name="calls", null=True, blank=True
    )
    outcome = models.CharField(max_length=20, choices=CallOutcome.choices, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "call_id"], name="callrecord_provider_call_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.call_id} from {self.caller_raw}"


class CallbackTask(BaseModel):
    """A caller staff must call back, e.g. one whose number the phone system could not give us.

    Open until ``done_at`` is set (``callback_task_complete``). ``phone`` is E.164 when known;
    ``caller_raw`` is what the phone system sent as the caller ID.
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True
    )
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True
    )
    call = models.ForeignKey(CallRecord, on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    caller_raw = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done_at__isnull=False) | models.Q(done_by__isnull=True),
                name="callbacktask_done_by_only_when_done",
            )
        ]

    def __str__(self) -> str:
        who = self.phone or self.caller_raw or "unidentified caller"
        return f"Call back {who}" + (" (done)" if self.done_at else "")
