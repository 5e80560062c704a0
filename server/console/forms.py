"""The console's forms: they parse and check what was typed; the services decide."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from server.care.services import NOTE_MAX_LENGTH
from server.common.text import PROBLEM_MAX_LENGTH
from server.console.selectors import PRIORITY_LABELS, STATUS_LABELS
from server.technicians.models import Skill, Technician
from server.workorders.models import Priority


def _aware(day: dt.date | None, time: dt.time | None) -> dt.datetime | None:
    if day is None or time is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day, time))


class WindowMixin(forms.Form):
    """A day and two times in the console's time zone: a window for the visit."""

    window_day = forms.DateField(label=_("Day"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    window_from = forms.TimeField(label=_("From"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))
    window_to = forms.TimeField(label=_("To"), required=False, widget=forms.TimeInput(attrs={"type": "time"}))

    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        day = self.cleaned_data.get("window_day")
        start = _aware(day, self.cleaned_data.get("window_from"))
        end = _aware(day, self.cleaned_data.get("window_to"))
        return start, end

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        given = [cleaned.get(name) for name in ("window_day", "window_from", "window_to")]
        if any(given) and not all(given):
            raise forms.ValidationError(_("Give the day and both times of the window, or none of them."))
        if all(given) and cleaned["window_to"] <= cleaned["window_from"]:
            raise forms.ValidationError(_("The window must end after it starts."))
        return cleaned


def _skill_choices() -> list[tuple[str, Any]]:
    return [("", _("From the equipment"))] + [(skill.code, str(skill)) for skill in Skill.objects.order_by("name")]


class RepairForm(WindowMixin):
    customer_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    customer_name = forms.CharField(label=_("Name"), required=False, max_length=200)
    site_id = forms.IntegerField(required=False)
    address = forms.CharField(label=_("Address"), required=False, max_length=300)
    latitude = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    equipment_id = forms.IntegerField(required=False)
    equipment_type = forms.CharField(label=_("New equipment: type"), required=False, max_length=100)
    equipment_model = forms.CharField(label=_("Model"), required=False, max_length=100)
    equipment_install_date = forms.DateField(
        label=_("Installed on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    equipment_skill = forms.ChoiceField(label=_("Skill it needs"), required=False)
    problem = forms.CharField(
        label=_("Problem"), widget=forms.Textarea(attrs={"rows": 3}), max_length=PROBLEM_MAX_LENGTH
    )
    priority = forms.ChoiceField(label=_("Priority"), initial=Priority.NORMAL)
    required_skill = forms.ChoiceField(label=_("Skill"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        skills = _skill_choices()
        self.fields["required_skill"].choices = skills  # type: ignore[attr-defined]
        self.fields["equipment_skill"].choices = [("", "—")] + skills[1:]  # type: ignore[attr-defined]
        self.fields["priority"].choices = [(value, label) for value, label in PRIORITY_LABELS.items()]  # type: ignore[attr-defined]

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean()
        if (cleaned.get("latitude") is None) != (cleaned.get("longitude") is None):
            raise forms.ValidationError(_("Give both latitude and longitude, or neither."))
        if cleaned.get("customer_id") is None and not (cleaned.get("phone") or "").strip():
            raise forms.ValidationError(_("Find the customer, or type the caller's phone number for a new one."))
        return cleaned


class WorkOrderFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(label=_("Status"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    technician = forms.ModelChoiceField(
        label=_("Technician"), required=False, queryset=Technician.objects.order_by("name"), empty_label=_("Anyone")
    )
    area = forms.CharField(label=_("Area"), required=False, max_length=100)
    complaint = forms.BooleanField(label=_("Complaint"), required=False)
    needs_review = forms.BooleanField(label=_("Needs review"), required=False)
    at_risk = forms.BooleanField(label=_("Promise at risk"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["status"].choices = [("", _("Any status"))] + list(STATUS_LABELS.items())  # type: ignore[attr-defined]
        self.fields["priority"].choices = [("", _("Any priority"))] + list(PRIORITY_LABELS.items())  # type: ignore[attr-defined]


class AssignForm(forms.Form):
    technician = forms.ModelChoiceField(
        label=_("Technician"), queryset=Technician.objects.filter(active=True).order_by("name")
    )


class RescheduleForm(WindowMixin):
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean()
        if not all(cleaned.get(name) for name in ("window_day", "window_from", "window_to")):
            raise forms.ValidationError(_("Give the day and both times of the new window."))
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=NOTE_MAX_LENGTH)
