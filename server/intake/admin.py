from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

# The work-order admin offers the desk's use cases (create and dispatch, the staff changes), so it
# lives with intake, the top of the server's layers.
from server.intake import services, work_order_admin  # noqa: F401
from server.intake.models import CallbackTask, CallRecord


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "call_id", "caller_phone", "outcome", "work_order", "created_at")
    list_filter = ("provider", "outcome")
    search_fields = ("call_id", "caller_phone", "caller_raw")

    def has_change_permission(self, request, obj=None) -> bool:  # calls are a record, never edited
        return False


@admin.register(CallbackTask)
class CallbackTaskAdmin(admin.ModelAdmin):
    """Callers staff must call back; created by intake, closed with the "called back" action."""

    list_display = ("id", "created_at", "phone", "caller_raw", "work_order", "reason", "done_at", "done_by")
    list_filter = (("done_at", admin.EmptyFieldListFilter),)
    list_select_related = ("work_order", "done_by")
    search_fields = ("phone", "caller_raw", "reason")
    readonly_fields = (
        "customer", "work_order", "call", "phone", "caller_raw", "reason", "done_at", "done_by", "created_at",
    )  # fmt: skip
    actions = ("mark_called_back",)

    def has_add_permission(self, request: HttpRequest) -> bool:  # opened by the intake services only
        return False

    @admin.action(description="Mark as called back")
    def mark_called_back(self, request: HttpRequest, queryset: QuerySet[CallbackTask]) -> None:
        user = request.user
        assert isinstance(user, User)  # the admin is for logged-in staff only
        done = [services.callback_task_complete(task_id=pk, user=user) for pk in queryset.values_list("pk", flat=True)]
        self.message_user(request, f"{len(done)} callback(s) marked done", messages.SUCCESS)
