"""Tests: the base settings with fast password hashing and a fixed secret."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret")
os.environ.setdefault("DEBUG", "0")

from server.config.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks run eagerly right after commit (no broker in unit tests), re-plans included; tests of
# the background thread set DISPATCH_BACKGROUND = "thread" themselves.
DISPATCH_BACKGROUND = "celery"
