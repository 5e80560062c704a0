from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from server.common.models import BaseModel


class Language(models.TextChoices):
    ZH_CN = "zh-CN", "中文"
    EN = "en", "English"


class Customer(BaseModel):
    name = models.CharField(max_length=200, blank=True)
    # E.164 (phonenumbers, default region from PHONE_DEFAULT_REGION). Unique: the caller ID is
    # how a call finds its customer.
    phone = models.CharField(max_length=20, unique=True, null=True, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ZH_CN)
    notes = models.TextField(blank=True)
    # Created from an unknown caller: staff must complete name and address.
    needs_review = models.BooleanField(default=False)
    # What the customer agreed to be sent, now (server.care keeps the history: when, how, who).
    # Service texts (booked, on my way, arrived) are part of the repair the customer asked for;
    # reminders and marketing need their own yes.
    consent_service_sms = models.BooleanField(default=True)
    consent_reminders = models.BooleanField(default=False)
    consent_marketing = models.BooleanField(default=False)
    # An open complaint marks the customer red until staff clear it (server.care).
    complaint_open = models.BooleanField(default=False, db_index=True)
    complaint_reason = models.CharField(max_length=300, blank=True)
    complaint_at = models.DateTimeField(null=True, blank=True)
    # Erased on request: personal data anonymised, orders kept for the statistics.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.phone or f"customer {self.pk}"


class LocationSource(models.TextChoices):
    TYPED = "typed", "Typed in"
    GEOCODED = "geocoded", "Found from the address"
    NONE = "none", "No coordinates"


class Site(BaseModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sites")
    address = models.CharField(max_length=300)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    # Where the coordinates came from (services.site_create / site_location_set keep it current).
    location_source = models.CharField(max_length=10, choices=LocationSource.choices, default=LocationSource.TYPED)
    # Staff must check the site: it has no coordinates (so it cannot be dispatched), or someone flagged it.
    needs_review = models.BooleanField(default=False)
    access_notes = models.CharField(max_length=300, blank=True)
    is_primary = models.BooleanField(default=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__isnull=True) | models.Q(latitude__gte=-90, latitude__lte=90),
                name="site_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__isnull=True) | models.Q(longitude__gte=-180, longitude__lte=180),
                name="site_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.address

    def clean(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError("Give both latitude and longitude, or neither.")

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class Equipment(BaseModel):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="equipment")
    equipment_type = models.CharField(max_length=100)
    model = models.CharField(max_length=100, blank=True)
    serial_number = models.CharField(max_length=100, blank=True)
    install_date = models.DateField(null=True, blank=True)
    # The skill a technician needs to service this equipment; a call about it asks for that skill.
    required_skill = models.ForeignKey(
        "technicians.Skill", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "equipment"

    def __str__(self) -> str:
        return f"{self.equipment_type} {self.model}".strip()
