"""The customer record over time: service intervals, maintenance reminders, import jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ServiceInterval(models.Model):
    """How often equipment of one type needs a service (e.g. a water-purifier filter: 24 months).

    ``equipment_type`` matches ``customers.Equipment.equipment_type`` exactly (the codes the
    intake and the seed use: "water_purifier", "washing_machine", ...).
    """

    equipment_type = models.CharField(_("equipment type"), max_length=100, unique=True)
    months = models.PositiveSmallIntegerField(_("months"))
    label = models.CharField(_("label"), max_length=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["equipment_type"]
        verbose_name = _("service interval")
        verbose_name_plural = _("service intervals")
        constraints = [models.CheckConstraint(condition=models.Q(months__gte=1), name="crm_interval_months_positive")]

    def __str__(self) -> str:
        return f"{self.label} ({self.months})"


class ReminderStage(models.TextChoices):
    DAYS_30 = "30d", _("30 days before")
    DAYS_7 = "7d", _("7 days before")
    OVERDUE = "overdue", _("Overdue")


class Reminder(models.Model):
    """One staged maintenance reminder sent for one piece of equipment and one due date.

    The unique constraint is what makes a stage go out once: a repeated or concurrent run of
    ``reminders_queue`` loses the insert and sends nothing.
    """

    Stage = ReminderStage

    equipment = models.ForeignKey("customers.Equipment", on_delete=models.CASCADE, related_name="reminders")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="reminders")
    due_date = models.DateField(_("due date"), db_index=True)
    stage = models.CharField(_("stage"), max_length=10, choices=ReminderStage.choices)
    sms_id = models.BigIntegerField(null=True, blank=True)
    # The preventive order a staff click (or a reply) created; one per reminder.
    work_order = models.ForeignKey(
        "workorders.WorkOrder", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            models.UniqueConstraint(fields=["equipment", "due_date", "stage"], name="crm_reminder_once_per_stage")
        ]

    def __str__(self) -> str:
        return f"{self.equipment_id} {self.due_date} {self.stage}"


class ImportJobStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """An upload of customers, sites and equipment, imported in the background with progress.

    ``errors`` is the per-row report: ``[{"row": 3, "field": "phone", "message": "..."}]``.
    """

    Status = ImportJobStatus

    file_name = models.CharField(_("file name"), max_length=200)
    data = models.BinaryField()  # the uploaded file, cleared once the job is done
    language = models.CharField(max_length=10, default="zh-hans")  # the report's language
    status = models.CharField(_("status"), max_length=10, choices=ImportJobStatus.choices, default="pending")
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows checked"), default=0)
    imported = models.PositiveIntegerField(_("rows imported"), default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=300, blank=True)  # why a whole job failed
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == "done" else 0)
