"""The Celery application (named celery_app.py so it never shadows the ``celery`` package)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.config.settings.production")

app = Celery("fixroute")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
