from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from server.care import services
from server.care.models import CallbackTask, ComplaintRecord, ConsentRecord, CustomerNote, WorkOrderRating
from server.common.exceptions import ApplicationError


@admin.register(CallbackTask)
class CallbackTaskAdmin(admin.ModelAdmin):
    """Callers staff must call back; opened by intake and care, closed with the "called back" action."""

    list_display = ("id", "created_at", "kind", "phone", "caller_raw", "work_order", "reason", "done_at", "done_by")
    list_filter = ("kind", ("done_at", admin.EmptyFieldListFilter))
    list_select_related = ("work_order", "done_by")
    search_fields = ("phone", "caller_raw", "reason")
    readonly_fields = (
        "kind", "customer", "work_order", "call", "phone", "caller_raw", "reason", "done_at", "done_by", "created_at",
    )  # fmt: skip
    actions = ("mark_called_back",)

    def has_add_permission(self, request: HttpRequest) -> bool:  # opened by the services only
        return False

    @admin.action(description=_("Mark as called back"))
    def mark_called_back(self, request: HttpRequest, queryset: QuerySet[CallbackTask]) -> None:
        user = request.user
        assert isinstance(user, User)  # the admin is for logged-in staff only
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                services.callback_task_complete(task_id=pk, user=user)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                done += 1
        self.message_user(
            request, ngettext("%d callback marked done", "%d callbacks marked done", done) % done, messages.SUCCESS
        )


class _ReadOnly(admin.ModelAdmin):
    """Records written by the care services; the admin only shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ComplaintRecord)
class ComplaintRecordAdmin(_ReadOnly):
    list_display = ("id", "created_at", "customer", "work_order", "action", "source", "reason", "actor_label")
    list_filter = ("action", "source")
    list_select_related = ("customer", "work_order")


@admin.register(CustomerNote)
class CustomerNoteAdmin(_ReadOnly):
    list_display = ("id", "created_at", "customer", "work_order", "author", "text")
    list_select_related = ("customer", "work_order", "author")


@admin.register(WorkOrderRating)
class WorkOrderRatingAdmin(_ReadOnly):
    list_display = ("id", "created_at", "work_order", "stars", "source", "comment")
    list_filter = ("stars", "source")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(_ReadOnly):
    list_display = ("id", "at", "customer", "kind", "given", "source", "recorded_by", "note")
    list_filter = ("kind", "given", "source")
    list_select_related = ("customer", "recorded_by")
