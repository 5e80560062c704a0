from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """The customer's tracking page: a signed link in the texts, no login."""

    name = "server.tracking"
    label = "tracking"
