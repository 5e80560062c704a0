from django.contrib import admin

from server.customers.models import Customer, Equipment, Site


class SiteInline(admin.StackedInline):
    model = Site
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "phone", "language", "needs_review", "created_at")
    list_filter = ("needs_review", "language")
    search_fields = ("name", "phone", "sites__address")
    inlines = [SiteInline]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "address", "latitude", "longitude")
    search_fields = ("address", "customer__name", "customer__phone")


@admin.register(Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ("id", "site", "equipment_type", "model", "install_date", "required_skill")
    search_fields = ("equipment_type", "model", "serial_number", "site__address")
