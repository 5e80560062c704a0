from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project itself, installed so that it can load the Celery app with Django."""

    name = "server.config"
    label = "config"

    def ready(self) -> None:
        # Tasks are sent through the project's Celery app (its broker, routes and queues) in every
        # process that loads Django, not only in workers started with `celery -A`.
        from server.config import celery_app  # noqa: F401
