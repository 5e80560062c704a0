from django.apps import AppConfig


class WorkordersConfig(AppConfig):
    name = "server.workorders"
    label = "workorders"
