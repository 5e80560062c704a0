from django.contrib import admin

from server.technicians.models import Skill, Technician


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("code", "name")


@admin.register(Technician)
class TechnicianAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "user", "phone", "shift_start", "shift_end", "active", "last_located_at")
    list_filter = ("active", "skills")
    filter_horizontal = ("skills",)
    search_fields = ("name", "phone", "user__username")
