"""Customer care: callback tasks, complaints, staff notes, ratings and the history of consent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from server.common.models import BaseModel


class CallbackKind(models.TextChoices):
    """Why staff must call someone back; decides who may close the task (see ``services``)."""

    UNIDENTIFIED = "unidentified", _("Unidentified caller")
    COMPLAINT = "complaint", _("Complaint: a supervisor calls back")
    REMINDER = "reminder", _("Maintenance reminder follow-up")
    RUNNING_LATE = "running_late", _("Running late again: call the customer")
    SMS_REPLY = "sms_reply", _("A text reply waits for an answer")


class CallbackTask(BaseModel):
    """A customer or caller staff must call back: an unidentified caller, a complaint, a reminder.

    Open until ``done_at`` is set (``callback_task_complete``). ``phone`` is E.164 when known;
    ``caller_raw`` is what the phone system sent as the caller ID. Created in server.intake
    before care existed: the table keeps its name (``intake_callbacktask``) and its rows.
    A customer has at most one open complaint task (``callbacktask_one_open_complaint``).
    """

    Kind = CallbackKind

    kind = models.CharField(max_length=20, choices=CallbackKind.choices, default=CallbackKind.UNIDENTIFIED)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True
    )
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True
    )
    call = models.ForeignKey(
        "intake.CallRecord", on_delete=models.PROTECT, related_name="callback_tasks", null=True, blank=True
    )
    phone = models.CharField(max_length=20, blank=True)
    caller_raw = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True, db_index=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )

    class Meta:
        db_table = "intake_callbacktask"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done_at__isnull=False) | models.Q(done_by__isnull=True),
                name="callbacktask_done_by_only_when_done",
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(kind="complaint", done_at__isnull=True),
                name="callbacktask_one_open_complaint",
            ),
        ]

    def __str__(self) -> str:
        who = self.phone or self.caller_raw or str(_("unidentified caller"))
        return f"Call back {who}" + (" (done)" if self.done_at else "")


class ComplaintSource(models.TextChoices):
    CALL = "call", _("Phone call")
    NOTE = "note", _("Staff note")
    SMS = "sms", _("SMS reply")
    RATING = "rating", _("Rating")
    STAFF = "staff", _("Set by staff")


class ComplaintAction(models.TextChoices):
    RAISED = "raised", _("Complaint raised")
    REPEATED = "repeated", _("Complaint repeated")
    CLEARED = "cleared", _("Complaint cleared")


class ComplaintRecord(models.Model):
    """Append-only history of a customer's complaints (the flag itself is on Customer and WorkOrder).

    ``words`` are the complaint words found in the text (empty for a rating or a staff decision).
    """

    Action = ComplaintAction
    Source = ComplaintSource

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="complaint_records")
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.SET_NULL, related_name="complaint_records", null=True, blank=True
    )
    action = models.CharField(max_length=10, choices=ComplaintAction.choices)
    source = models.CharField(max_length=10, choices=ComplaintSource.choices)
    reason = models.CharField(max_length=300, blank=True)
    words = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    actor_label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.action} ({self.source})"


class CustomerNote(models.Model):
    """A note staff wrote about a customer (and optionally one of their orders); checked for complaints."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="care_notes")
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.SET_NULL, related_name="care_notes", null=True, blank=True
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.text[:40]}"


class RatingSource(models.TextChoices):
    SMS = "sms", _("SMS reply")
    APP = "app", _("Technician's app")
    PHONE = "phone", _("Phone call")
    STAFF = "staff", _("Entered by staff")


class WorkOrderRating(models.Model):
    """The customer's rating of a visit: 1 (worst) to 5 stars; 1–2 stars raise a complaint."""

    Source = RatingSource

    work_order = models.OneToOneField("workorders.WorkOrder", on_delete=models.CASCADE, related_name="rating")
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=RatingSource.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(stars__gte=1, stars__lte=5), name="workorderrating_stars_1_to_5")
        ]

    def __str__(self) -> str:
        return f"{self.work_order_id}: {self.stars}★"


class ConsentKind(models.TextChoices):
    SERVICE_SMS = "service_sms", _("Service SMS")
    REMINDERS = "reminders", _("Maintenance reminders")
    MARKETING = "marketing", _("Marketing")


class ConsentSource(models.TextChoices):
    PHONE = "phone", _("On the phone")
    WEB = "web", _("On the web")
    SMS = "sms", _("By SMS")
    PAPER = "paper", _("On paper")
    IMPORT = "import", _("Imported")
    STAFF = "staff", _("Recorded by staff")


# The Customer field that holds each kind's current answer.
CONSENT_FIELDS: dict[str, str] = {
    ConsentKind.SERVICE_SMS: "consent_service_sms",
    ConsentKind.REMINDERS: "consent_reminders",
    ConsentKind.MARKETING: "consent_marketing",
}


class ConsentRecord(models.Model):
    """One answer a customer gave (yes or no) to one kind of message: when, how and who wrote it down.

    Append-only; the newest record of a kind is the Customer's current flag (``consent_set``).
    """

    Kind = ConsentKind
    Source = ConsentSource

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="consent_records")
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    given = models.BooleanField()
    at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=10, choices=ConsentSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ConsentKind.values), name="consentrecord_kind_valid")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind}={'yes' if self.given else 'no'}"
