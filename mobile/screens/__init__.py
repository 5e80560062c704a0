"""The app's screens: one ``<name>.py`` (a Screen with thin handlers) + ``<name>.kv`` each."""

import os

from kivy.lang import Builder

from mobile.widgets import common


def load_kv(py_file: str) -> None:
    """Load the shared rules and the .kv next to ``py_file``, once per process.

    Screen modules call this at import: loading kv in ``build()`` would apply the rules
    again for every App instance created in the same process (tests create many).
    """
    common.load()
    path = os.path.splitext(py_file)[0] + ".kv"
    if path not in Builder.files:
        Builder.load_file(path)
