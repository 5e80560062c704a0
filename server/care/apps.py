from django.apps import AppConfig


class CareConfig(AppConfig):
    """Customer care: complaints, staff notes, callback tasks, consent history."""

    name = "server.care"
    label = "care"
