from __future__ import annotations

from django.conf import settings
from django.db import models

from server.common.models import BaseModel


class Status(models.TextChoices):
    NEW = "new", "New"
    SCHEDULED = "scheduled", "Scheduled"
    EN_ROUTE = "en_route", "On the way"
    ON_SITE = "on_site", "On site"
    ON_HOLD = "on_hold", "On hold"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK: dict[str, int] = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}
OPEN_STATUSES = (Status.NEW, Status.SCHEDULED, Status.EN_ROUTE, Status.ON_SITE, Status.ON_HOLD)


class Source(models.TextChoices):
    PHONE = "phone", "Phone call"
    MANUAL = "manual", "Entered by staff"
    API = "api", "API"


class WorkOrder(BaseModel):
    Status = Status
    Priority = Priority
    Source = Source

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="work_orders")
    site = models.ForeignKey(
        "customers.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="work_orders"
    )
    equipment = models.ForeignKey(
        "customers.Equipment", on_delete=models.SET_NULL, null=True, blank=True, related_name="work_orders"
    )
    problem = models.TextField(blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    required_skill = models.ForeignKey(
        "technicians.Skill", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    service_minutes = models.PositiveSmallIntegerField(default=60)
    # Written only by server.workorders.services.work_order_transition.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    technician = models.ForeignKey(
        "technicians.Technician", on_delete=models.PROTECT, null=True, blank=True, related_name="work_orders"
    )
    scheduled_day = models.DateField(null=True, blank=True, db_index=True)
    planned_arrival = models.DateTimeField(null=True, blank=True)
    # The planned arrival as last written in an event: small re-timings add up, and once they
    # move the arrival by PLAN_CHANGE_EVENT_MINUTES from what was last recorded, that is an event.
    logged_arrival = models.DateTimeField(null=True, blank=True)
    route_position = models.PositiveSmallIntegerField(null=True, blank=True)
    # The customer's availability for the visit; empty means any time in the technician's shift.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    # The window the customer was told (the promise): re-plans keep the arrival inside it, and
    # only a recorded change (an event with the reason) moves it. Empty until a time is given.
    promised_start = models.DateTimeField(null=True, blank=True)
    promised_end = models.DateTimeField(null=True, blank=True)
    promised_technician = models.ForeignKey(
        "technicians.Technician", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The plan can no longer keep the promise; the reason says why (staff and the SMS act on it).
    promise_at_risk = models.BooleanField(default=False, db_index=True)
    promise_risk_reason = models.CharField(max_length=300, blank=True)
    # Staff pinned the order to its technician (and optionally a start): re-plans do not move it.
    pinned = models.BooleanField(default=False)
    pinned_start = models.DateTimeField(null=True, blank=True)
    hold_reason = models.CharField(max_length=300, blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    # Bumped by every service that changes the order; a re-plan applies a change only to an order
    # still at the version it planned from.
    version = models.PositiveIntegerField(default=0)
    # The order was created from a call we could not match; staff must complete it.
    needs_review = models.BooleanField(default=False)
    complaint = models.BooleanField(default=False)
    assignment_explanation = models.JSONField(default=dict, blank=True)
    # What the technician wrote when they finished, and the parts they used
    # (``[{"name": str, "quantity": int}]``); set by the "done" tap.
    resolution = models.TextField(blank=True)
    parts_used = models.JSONField(default=list, blank=True)
    # When the job was finished (the technician's device time of the "done" tap).
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["technician", "scheduled_day", "route_position"]),
            # The staff list shows orders with a complaint first (red at the top), newest first.
            models.Index(fields=["complaint", "id"], name="workorder_complaint_first"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="workorder_status_valid"),
            models.CheckConstraint(condition=models.Q(priority__in=Priority.values), name="workorder_priority_valid"),
            models.CheckConstraint(
                condition=models.Q(promised_start__isnull=True)
                | models.Q(promised_end__isnull=True)
                | models.Q(promised_end__gt=models.F("promised_start")),
                name="workorder_promise_order",
            ),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True)
                | models.Q(window_end__isnull=True)
                | models.Q(window_end__gt=models.F("window_start")),
                name="workorder_window_order",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"WO-{self.pk:06d}" if self.pk else "WO-new"


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS = "status", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    CALL = "call", "Call"
    NOTE = "note", "Note"
    SMS = "sms", "SMS"
    MOVED = "moved", "Moved by the plan"
    PROMISE = "promise", "Promise"
    PINNED = "pinned", "Pinned"


class WorkOrderEvent(models.Model):
    """Append-only log of everything that happened to a work order."""

    Kind = EventKind

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    from_status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=100, blank=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The id the technician's phone gave the tap; a repeat is the same event.
    client_event_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    device_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.work_order_id} {self.kind} {self.text[:40]}"


class TrackingKey(models.Model):
    """The per-order secret mixed into the tracking link's signature.

    Replacing ``secret`` revokes every link sent so far for the order (``tracking_link_revoke``).
    """

    work_order = models.OneToOneField(WorkOrder, on_delete=models.CASCADE, related_name="+")
    secret = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tracking key for {self.work_order_id}"


class WorkOrderPhoto(models.Model):
    """A photo the technician's phone uploads for an order, in chunks that survive lost answers.

    ``received`` bytes have arrived (as :class:`WorkOrderPhotoChunk` rows until the last one);
    at ``size`` the checksum is checked and the photo is stored in ``file``.
    """

    work_order = models.ForeignKey(WorkOrder, on_delete=models.CASCADE, related_name="photos")
    technician = models.ForeignKey(
        "technicians.Technician", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The id the phone gave the photo; a repeat of the start answers the upload's state.
    client_photo_id = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=20)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    received = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="work-order-photos/", max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(received__lte=models.F("size")), name="photo_received_le_size"),
        ]

    def __str__(self) -> str:
        return f"{self.client_photo_id} ({self.received}/{self.size})"

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


class WorkOrderPhotoChunk(models.Model):
    """One received piece of an unfinished photo (at most a request body, 256 KB)."""

    photo = models.ForeignKey(WorkOrderPhoto, on_delete=models.CASCADE, related_name="chunks")
    offset = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["offset"]
        constraints = [models.UniqueConstraint(fields=["photo", "offset"], name="photo_chunk_offset_unique")]

    def __str__(self) -> str:
        return f"{self.photo_id}@{self.offset}"
