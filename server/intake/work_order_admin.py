"""Admin for work orders. Creating one goes through the same service as the API (and dispatches);
status is never edited here: it changes only through the state machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.http import HttpRequest

from server.common.exceptions import ApplicationError
from server.intake.services import work_order_create_and_dispatch
from server.scheduling import changes
from server.workorders import services as work_order_services
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
    list_display = (
        "reference",
        "customer",
        "status",
        "priority",
        "technician",
        "planned_arrival",
        "needs_review",
        "created_at",
    )
    list_filter = ("status", "priority", "needs_review", "source", "technician")
    search_fields = ("id", "customer__name", "customer__phone", "site__address", "problem")
    # Planning is changed only through the services (they write events and re-dispatch): the
    # admin shows it read-only and offers the staff changes as actions.
    readonly_fields = (
        "status",
        "technician",
        "scheduled_day",
        "planned_arrival",
        "route_position",
        "assignment_explanation",
        "source",
        "promised_start",
        "promised_end",
        "promised_technician",
        "promise_at_risk",
        "promise_risk_reason",
        "pinned",
        "pinned_start",
        "hold_reason",
        "follow_up_on",
        "version",
    )
    # Once created, these decide the plan; change them through the API's staff actions.
    planning_fields = (
        "customer",
        "site",
        "equipment",
        "priority",
        "required_skill",
        "service_minutes",
        "window_start",
        "window_end",
        "complaint",
    )
    autocomplete_fields = ("customer",)
    inlines = [WorkOrderEventInline]
    actions = ["hold_orders", "release_orders", "cancel_orders", "unpin_orders"]

    def get_readonly_fields(self, request: HttpRequest, obj: WorkOrder | None = None) -> tuple[str, ...]:
        if obj is None:
            return self.readonly_fields
        return self.readonly_fields + self.planning_fields

    def _each(
        self,
        request: HttpRequest,
        queryset: Any,
        done: str,
        change: Callable[[WorkOrder, User], object],
    ) -> None:
        """Apply a staff change to each selected order through its service; report refusals."""
        actor = request.user
        assert isinstance(actor, User)  # the admin site admits signed-in staff only
        ok, refused = 0, []
        for work_order in queryset:
            try:
                change(work_order, actor)
                ok += 1
            except ApplicationError as exc:
                refused.append(f"{work_order.reference}: {exc.message}")
        if ok:
            messages.info(request, f"{ok} {done}")
        for line in refused:
            messages.error(request, line)

    @admin.action(description="Put on hold")
    def hold_orders(self, request: HttpRequest, queryset: Any) -> None:
        self._each(
            request,
            queryset,
            "put on hold",
            lambda wo, actor: changes.work_order_hold(
                work_order_id=wo.pk, reason=f"held by {actor} in the admin", actor=actor
            ),
        )

    @admin.action(description="Release back to planning")
    def release_orders(self, request: HttpRequest, queryset: Any) -> None:
        self._each(
            request,
            queryset,
            "released to planning",
            lambda wo, actor: changes.work_order_release(work_order_id=wo.pk, actor=actor),
        )

    @admin.action(description="Cancel")
    def cancel_orders(self, request: HttpRequest, queryset: Any) -> None:
        self._each(
            request,
            queryset,
            "cancelled",
            lambda wo, actor: changes.work_order_cancel(
                work_order_id=wo.pk, reason=f"cancelled by {actor} in the admin", actor=actor
            ),
        )

    @admin.action(description="Unpin (let the plan move them)")
    def unpin_orders(self, request: HttpRequest, queryset: Any) -> None:
        self._each(
            request,
            queryset,
            "unpinned",
            lambda wo, actor: changes.work_order_pin(work_order_id=wo.pk, pinned=False, actor=actor),
        )

    def save_model(self, request: HttpRequest, obj: WorkOrder, form: object, change: bool) -> None:
        if change:
            # Only the problem text and the review flag are editable here; say so in the log.
            # Saved field by field: a status or plan change made meanwhile is never written over.
            changed = [name for name in getattr(form, "changed_data", []) if name in ("problem", "needs_review")]
            if changed:
                obj.save(update_fields=[*changed, "updated_at"])
                work_order_services.work_order_note(
                    work_order=obj,
                    actor=request.user if isinstance(request.user, User) else None,
                    text=f"Edited in the admin: {', '.join(changed)}",
                )
            return
        created = work_order_create_and_dispatch(
            customer=obj.customer,
            site=obj.site,
            equipment=obj.equipment,
            problem=obj.problem,
            priority=obj.priority,
            required_skill=obj.required_skill,
            service_minutes=obj.service_minutes,
            window_start=obj.window_start,
            window_end=obj.window_end,
            complaint=obj.complaint,
            needs_review=obj.needs_review or obj.site is None,
            actor=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()
        messages.info(
            request,
            f"{created.reference}: {created.get_status_display()}"
            + (f", {created.technician}" if created.technician else ""),
        )
