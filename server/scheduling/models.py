from __future__ import annotations

import uuid

from django.db import models

from server.common.models import BaseModel

# A job keeps only its newest progress lines: enough to follow a run, never a growing row.
PROGRESS_KEEP = 50


class ReplanJob(BaseModel):
    """One re-plan of the day asked for through the API; it runs in the background.

    ``result`` holds the plain numbers of the re-plan (``jobs.replan_result``), including
    ``workers``, the number of solver processes that searched.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    requested_by = models.CharField(max_length=150, blank=True)
    time_limit_s = models.FloatField()
    progress = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(time_limit_s__gt=0), name="replan_job_time_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"re-plan {self.pk} ({self.status})"
