"""Production: the base settings; everything that differs comes from environment variables."""

from server.config.settings.base import *  # noqa: F403
from server.config.settings.base import DEBUG

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
