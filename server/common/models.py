from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditAction(models.TextChoices):
    VIEWED = "viewed", "Viewed"
    EXPORTED = "exported", "Exported"
    IMPORTED = "imported", "Imported"
    ERASED = "erased", "Erased"
    CHANGED = "changed", "Changed"


class AuditEntry(models.Model):
    """Who viewed, exported, imported, erased or changed which customer's data, and when.

    Written only through ``server.common.audit.audit_record``; never edited or deleted (an erased
    customer's entries stay, pointing at the anonymised record).
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    username = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    what = models.CharField(max_length=200)  # e.g. "customer page", "export: work orders (xlsx)"

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.what}"
