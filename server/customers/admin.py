from typing import Any

from django.contrib import admin
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from server.customers import services
from server.customers.models import Customer, Equipment, Site

_COORDINATES = ("latitude", "longitude")


def _site_saved(site: Site, *, added: bool, changed: list[str]) -> None:
    """A site saved from the admin: a new one without coordinates is geocoded, and typed
    coordinates (or their removal) update where they came from and the review flag."""
    if added or any(name in changed for name in _COORDINATES):
        services.site_location_set(site=site, latitude=site.latitude, longitude=site.longitude, geocode=added)


class SiteInline(admin.StackedInline):
    model = Site
    extra = 0
    readonly_fields = ("location_source",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "phone", "language", "needs_review", "created_at")
    list_filter = ("needs_review", "language")
    search_fields = ("name", "phone", "sites__address")
    inlines = [SiteInline]

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is not Site:
            return
        for site_form in formset.forms:
            site = site_form.instance
            if site.pk is not None and site_form.has_changed() and site not in formset.deleted_objects:
                _site_saved(site, added=site in formset.new_objects, changed=site_form.changed_data)


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "address", "latitude", "longitude", "location_source", "needs_review")
    list_filter = ("needs_review", "location_source")
    search_fields = ("address", "customer__name", "customer__phone")
    readonly_fields = ("location_source",)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _site_saved(obj, added=not change, changed=form.changed_data)


@admin.register(Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ("id", "site", "equipment_type", "model", "install_date", "required_skill")
    search_fields = ("equipment_type", "model", "serial_number", "site__address")
