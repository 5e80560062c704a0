"""Shared test set-up.

Kivy reads its environment on first import; ``tests.kivy_driver`` sets it (and a temporary
KIVY_HOME it removes at exit) before anything imports kivy, so it is imported here first.
"""

import tests.kivy_driver  # noqa: F401
