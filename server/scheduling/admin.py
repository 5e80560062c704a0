from django.contrib import admin

from server.scheduling.models import ReplanJob


@admin.register(ReplanJob)
class ReplanJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are written by the API and the re-plan worker."""

    list_display = ("id", "status", "requested_by", "time_limit_s", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("id", "requested_by")
    readonly_fields = (
        "id",
        "status",
        "requested_by",
        "time_limit_s",
        "progress",
        "result",
        "error",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
