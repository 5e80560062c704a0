"""Filters for the console's templates: labels in the user's language, windows, phones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from server.accounts.models import Role
from server.accounts.roles import has_role
from server.console import selectors

register = template.Library()


@register.filter
def status_label(value: str) -> str:
    return str(selectors.STATUS_LABELS.get(value, value))


@register.filter
def priority_label(value: str) -> str:
    return str(selectors.PRIORITY_LABELS.get(value, value))


@register.filter
def outcome_label(value: str) -> str:
    return str(selectors.OUTCOME_LABELS.get(value, value))


@register.simple_tag
def window(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """A window as ``2026-11-30 14:00–16:00`` in the console's time zone; "not given yet" without one."""
    if start is None or end is None:
        return _("not given yet")
    start, end = timezone.localtime(start), timezone.localtime(end)
    day = formats.date_format(start, "Y-m-d")
    if start.date() == end.date():
        return f"{day} {start:%H:%M}–{end:%H:%M}"
    return f"{day} {start:%H:%M} – {formats.date_format(end, 'Y-m-d')} {end:%H:%M}"


@register.simple_tag(takes_context=True)
def phone_for(context: dict[str, Any], phone: str | None) -> str:
    """The number as a list shows it to the user: partly masked for agents."""
    return selectors.phone_for(context["request"].user, phone)


@register.simple_tag
def user_has_role(user: Any, *roles: str) -> bool:
    """``{% user_has_role user "supervisor" "admin" as allowed %}`` (superusers: always)."""
    return has_role(user, *(Role(role) for role in roles))
