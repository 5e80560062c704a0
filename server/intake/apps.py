from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "server.intake"
    label = "intake"
