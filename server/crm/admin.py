from django.contrib import admin

from server.crm.models import ImportJob, Reminder, ServiceInterval


@admin.register(ServiceInterval)
class ServiceIntervalAdmin(admin.ModelAdmin):
    list_display = ("equipment_type", "label", "months", "active")
    list_editable = ("months", "active")


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ("id", "equipment", "customer", "due_date", "stage", "work_order", "created_at")
    list_filter = ("stage",)
    raw_id_fields = ("equipment", "customer", "work_order")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "file_name", "status", "total", "done", "imported", "created_by", "created_at")
    exclude = ("data",)
    readonly_fields = ("file_name", "status", "total", "done", "imported", "errors", "message", "created_by")
