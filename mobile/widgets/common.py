"""Shared widget rules (app bar, buttons, cards, status chip) from ``common.kv``.

The widgets are kv dynamic classes (``<AppBar@BoxLayout>``...), so there is no Python
code for them; ``load()`` loads the rules once per process.
"""

import os

from kivy.lang import Builder

KV_FILE = os.path.join(os.path.dirname(__file__), "common.kv")


def load() -> None:
    if KV_FILE not in Builder.files:
        Builder.load_file(KV_FILE)
