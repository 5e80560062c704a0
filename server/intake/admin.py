from django.contrib import admin

from server.intake.models import CallRecord


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "call_id", "caller_phone", "outcome", "work_order", "created_at")
    list_filter = ("provider", "outcome")
    search_fields = ("call_id", "caller_phone", "caller_raw")

    def has_change_permission(self, request, obj=None) -> bool:  # calls are a record, never edited
        return False
