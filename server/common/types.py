"""Types shared by the API modules."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class ApiRequest(HttpRequest):
    """A django-ninja request once its authentication ran: ``auth`` is the signed-in user."""

    auth: User
