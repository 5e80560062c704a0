from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff web console (agents, dispatchers, supervisors): templates, htmx, i18n."""

    name = "server.console"
    label = "console"
