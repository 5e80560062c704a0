from django.apps import AppConfig


class TechniciansConfig(AppConfig):
    name = "server.technicians"
    label = "technicians"
