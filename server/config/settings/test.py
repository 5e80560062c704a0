"""Tests: the production settings with fast password hashing, a fixed secret and plain HTTP.

DATABASE_URL chooses the database as everywhere else: ``make test`` runs the server tests on
PostgreSQL; without it they run on SQLite (the embedded default).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from server.config.settings.production import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks run eagerly right after commit (no broker in unit tests), re-plans included; tests of
# the background thread set DISPATCH_BACKGROUND = "thread" themselves.
DISPATCH_BACKGROUND = "celery"

# Static files come straight from the apps (no collectstatic before a test run).
STATIC_ROOT = None  # type: ignore[assignment]
# Uploads go to a folder of this test run's own.
MEDIA_ROOT = tempfile.mkdtemp(prefix="fixroute-media-")
WHITENOISE_USE_FINDERS = True

# Quiet hours off: a test that expects a text at once must not depend on the hour it runs at
# (tests of quiet hours set them themselves).
SMS_QUIET_HOURS = ""
