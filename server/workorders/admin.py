"""Admin for work orders. Creating one goes through the same service as the API (and dispatches);
status is never edited here: it changes only through the state machine."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from server.scheduling import services as scheduling_services
from server.workorders.models import WorkOrder, WorkOrderEvent


class WorkOrderEventInline(admin.TabularInline):
    model = WorkOrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "actor_label", "text", "device_time")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    list_display = ("reference", "customer", "status", "priority", "technician", "planned_arrival",
                    "needs_review", "created_at")
    list_filter = ("status", "priority", "needs_review", "source", "technician")
    search_fields = ("id", "customer__name", "customer__phone", "site__address", "problem")
    readonly_fields = ("status", "technician", "scheduled_day", "planned_arrival", "route_position",
                       "assignment_explanation", "source")
    autocomplete_fields = ("customer",)
    inlines = [WorkOrderEventInline]

    def save_model(self, request: HttpRequest, obj: WorkOrder, form: object, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = scheduling_services.work_order_create_and_dispatch(
            customer=obj.customer, site=obj.site, equipment=obj.equipment, problem=obj.problem,
            priority=obj.priority, required_skill=obj.required_skill, service_minutes=obj.service_minutes,
            window_start=obj.window_start, window_end=obj.window_end, complaint=obj.complaint,
            needs_review=obj.needs_review or obj.site is None, actor=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()
        messages.info(request, f"{created.reference}: {created.get_status_display()}"
                      + (f", {created.technician}" if created.technician else ""))
