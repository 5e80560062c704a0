from __future__ import annotations

from django.db import models

from server.care.models import CallbackTask  # noqa: F401  (moved to care; this name stays until importers move)
from server.common.models import BaseModel


class CallOutcome(models.TextChoices):
    CREATED = "created", "Created a work order"
    JOINED = "joined", "Joined an open work order"
    # The caller ID was withheld or is not a phone number: an order for staff and a callback task.
    UNIDENTIFIED = "unidentified", "Caller not identified; staff call back"


class CallRecord(BaseModel):
    """One inbound call, as the phone system reported it. (provider, call_id) is the idempotency key.

    Callback tasks (``server.care.models.CallbackTask``) point here by a string FK: care is below intake.
    """

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
