"""The embedded default for ``make run``: DEBUG on unless the environment says otherwise."""

import os

os.environ.setdefault("DEBUG", "1")

from server.config.settings.base import *  # noqa: E402,F403
