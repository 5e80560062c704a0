from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "server.scheduling"
    label = "scheduling"
