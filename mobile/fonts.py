"""The app's one font: Fixroute Sans, a subset of Noto Sans CJK SC with Latin and Chinese glyphs.

It is bundled with the app (mobile/fonts/, SIL OFL 1.1) and always used, so what a phone
or a desktop shows never depends on the fonts it happens to have: Kivy's Roboto has no
Chinese, and some systems' CJK fonts have no Latin letters or digits. The files are build
products of ``scripts/build-mobile-font.py`` (``make mobile-font``; ``make setup`` runs it):
a regular and a bold face with the same characters (Kivy 2.3 has no synthetic bold, and
customer names are bold on the job list).
"""

from __future__ import annotations

import os

FONT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts")
FONT_PATH = os.path.join(FONT_DIR, "FixrouteSans-Regular.otf")
BOLD_FONT_PATH = os.path.join(FONT_DIR, "FixrouteSans-Bold.otf")
BUILD_COMMAND = "make mobile-font"

_state: dict[str, str] = {}


class FontMissing(RuntimeError):
    """The bundled font was not built; without it every Chinese character is a box."""


def font_path(*, bold: bool = False) -> str:
    """The bundled face's path; raises ``FontMissing`` (naming the build command) without it."""
    path = BOLD_FONT_PATH if bold else FONT_PATH
    if not os.path.isfile(path):
        raise FontMissing(
            f"The app's font {path} is missing. Build it with `{BUILD_COMMAND}` "
            "(scripts/build-mobile-font.py, from Debian's fonts-noto-cjk) before running or packaging the app."
        )
    return path


def setup_fonts() -> str:
    """Make the bundled font Kivy's default (regular and bold), once per process; return its path."""
    regular, bold = font_path(), font_path(bold=True)
    if _state.get("registered") != regular:
        from kivy.core.text import DEFAULT_FONT, LabelBase

        # Every Label, Button and TextInput names DEFAULT_FONT ("Roboto") unless told otherwise.
        # Italic falls back to the regular face (Kivy uses fn_regular for it).
        LabelBase.register(DEFAULT_FONT, fn_regular=regular, fn_bold=bold, fn_bolditalic=bold)
        _state["registered"] = regular
    return regular
