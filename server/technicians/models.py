from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from server.common.models import BaseModel


class Skill(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.code


class Technician(BaseModel):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="technician")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=20, blank=True)
    skills = models.ManyToManyField(Skill, blank=True, related_name="technicians")
    home_latitude = models.FloatField()
    home_longitude = models.FloatField()
    # Daily shift in local time. An end at or before the start means the shift ends the next day
    # (night crews; 00:00 to 00:00 is round the clock).
    shift_start = models.TimeField(default=dt.time(8, 0))
    shift_end = models.TimeField(default=dt.time(18, 0))
    lunch_start = models.TimeField(null=True, blank=True)
    lunch_minutes = models.PositiveSmallIntegerField(default=0)
    max_jobs_per_day = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latitude = models.FloatField(null=True, blank=True)
    last_longitude = models.FloatField(null=True, blank=True)
    last_located_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Bumped whenever an order joins, leaves or moves on this technician's route. Writers hold
    # this row's lock (technicians first, in id order, then work orders), so a placement or a
    # re-plan that read an older version knows its view of the route is stale.
    route_version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class TechnicianLocation(models.Model):
    """A position the technician's phone reported, applied once per ``client_event_id``.

    Every report is kept; ``accepted`` says whether it moved the technician's current position
    (``Technician.last_*``): a report that arrives late, or older than the last one, does not.
    """

    technician = models.ForeignKey(Technician, on_delete=models.CASCADE, related_name="locations")
    client_event_id = models.CharField(max_length=64, unique=True)
    device_time = models.DateTimeField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    accuracy_m = models.FloatField(null=True, blank=True)
    accepted = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["device_time", "id"]
        indexes = [models.Index(fields=["technician", "device_time"])]

    def __str__(self) -> str:
        return f"{self.technician_id} at {self.device_time:%Y-%m-%d %H:%M}"
