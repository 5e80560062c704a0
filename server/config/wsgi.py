"""gunicorn's entry point (``server.config.wsgi:application``).

The settings are the environment's DJANGO_SETTINGS_MODULE, else the one production module, as
for manage.py and the Celery app. Nothing this module imports first may choose them (the Celery app
once did, from config/__init__.py, and production ran with the local settings).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server.config.settings.production")
application = get_wsgi_application()

from server.common.warmup import warm_up  # noqa: E402  (needs the settings loaded above)

warm_up()
