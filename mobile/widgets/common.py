"""Shared widget rules (app bar, buttons, cards, status chip, banners, clipped text) from
``common.kv``.

Most widgets are kv dynamic classes (``<AppBar@BoxLayout>``...); ``ClippedText`` has a
Python class. ``load()`` loads the rules once per process.
"""

import os

from kivy.lang import Builder

from mobile.widgets.clipped import ClippedText
from mobile.widgets.section import Section

KV_FILE = os.path.join(os.path.dirname(__file__), "common.kv")

__all__ = ["ClippedText", "Section", "load"]


def load() -> None:
    if KV_FILE not in Builder.files:
        Builder.load_file(KV_FILE)
