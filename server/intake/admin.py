from django.contrib import admin

# The work-order admin offers the desk's use cases (create and dispatch, the staff changes), so it
# lives with intake, the top of the server's layers.
from server.intake import work_order_admin  # noqa: F401
from server.intake.models import CallRecord


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "call_id", "caller_phone", "outcome", "work_order", "created_at")
    list_filter = ("provider", "outcome")
    search_fields = ("call_id", "caller_phone", "caller_raw")

    def has_change_permission(self, request, obj=None) -> bool:  # calls are a record, never edited
        return False
