"""Checks that text is drawn with real glyphs, not "tofu" boxes, for the app's screenshot tests.

- ``assert_font_covers(text, font_file)``: the font's cmap maps every character (fontTools;
  no window). The failure lists the missing characters with their code points.
- ``assert_real_glyphs(text)``: each character, rendered by Kivy's text provider with the
  font the app uses (``DEFAULT_FONT`` once ``mobile.fonts.setup_fonts()`` ran), has ink and
  differs from the rendering of ``NOTDEF_PROBE``, a code point no font of ours maps, i.e.
  from what a missing glyph looks like. Needs the Kivy window (the ``kivy_window`` fixture).
- ``screenshot_has_content(path)``: the PNG is not one flat colour and has dark (text) pixels.
- ``cells_drawn_as_notdef(png, cells, reference)``: in a screenshot, which character cells
  look exactly like the reference cell that shows ``NOTDEF_PROBE``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image

NOTDEF_PROBE = "\U000f0000"  # plane-15 private use: mapped by no font the app or Kivy ships
_RENDER_SIZE = 32  # px; big enough that different glyphs never render alike

_renders: dict[tuple[str, bool, str], np.ndarray] = {}


def _shown(text: str) -> list[str]:
    """The distinct characters of ``text`` that draw something (no spaces or controls)."""
    return sorted({ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Zs")})


def _describe(chars: Iterable[str]) -> str:
    return ", ".join(f"{ch!r} U+{ord(ch):04X}" for ch in chars)


def missing_from_font(text: str, font_file: str | Path) -> list[str]:
    """The characters of ``text`` the font's cmap does not map."""
    cmap = TTFont(str(font_file), lazy=True).getBestCmap()
    return [ch for ch in _shown(text) if ord(ch) not in cmap]


def assert_font_covers(text: str, font_file: str | Path) -> None:
    missing = missing_from_font(text, font_file)
    assert not missing, f"{Path(font_file).name} has no glyph for {len(missing)} character(s): {_describe(missing)}"


def render(ch: str, *, font_name: str | None = None, bold: bool = False) -> np.ndarray:
    """The alpha channel of ``ch`` drawn by Kivy's text provider (cached per font file)."""
    from kivy.core.text import DEFAULT_FONT
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text=ch, font_size=_RENDER_SIZE, font_name=font_name or DEFAULT_FONT, bold=bold)
    label.resolve_font_name()
    key = (label.options["font_name_r"], bold, ch)
    if key not in _renders:
        label.refresh()
        texture = label.texture
        pixels = np.frombuffer(texture.pixels, dtype=np.uint8).reshape(texture.height, texture.width, 4)
        _renders[key] = pixels[:, :, 3].copy()
    return _renders[key]


def boxes(text: str, *, font_name: str | None = None, bold: bool = False) -> list[str]:
    """The characters of ``text`` that render like a missing glyph, or render nothing."""
    notdef = render(NOTDEF_PROBE, font_name=font_name, bold=bold)
    found = []
    for ch in _shown(text):
        glyph = render(ch, font_name=font_name, bold=bold)
        if not (glyph > 96).any() or (glyph.shape == notdef.shape and np.array_equal(glyph, notdef)):
            found.append(ch)
    return found


def assert_real_glyphs(text: str, *, font_name: str | None = None, faces: Iterable[bool] = (False, True)) -> None:
    """Every visible character of ``text`` is a real glyph, in the regular and the bold face."""
    problems = []
    for bold in faces:
        drawn_as_boxes = boxes(text, font_name=font_name, bold=bold)
        if drawn_as_boxes:
            problems.append(f"{'bold' if bold else 'regular'}: {_describe(drawn_as_boxes)}")
    assert not problems, "drawn as boxes (missing glyphs): " + "; ".join(problems)


def load_png(path: str | Path) -> np.ndarray:
    """RGB pixels, row 0 at the top."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def screenshot_has_content(path: str | Path, *, min_colours: int = 8, min_dark_pixels: int = 200) -> bool:
    """Not one flat colour: several distinct colours and enough dark (text) pixels."""
    pixels = load_png(path)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    dark = int((pixels.max(axis=2) < 100).sum())
    return len(colours) >= min_colours and dark >= min_dark_pixels


Rect = tuple[int, int, int, int]  # x, y (from the top), width, height in screenshot pixels


def cells_drawn_as_notdef(png: str | Path, cells: Mapping[str, Rect], reference: Rect) -> list[str]:
    """The characters whose cell in the screenshot shows no ink or the same pixels as ``reference``
    (a cell of the same size showing ``NOTDEF_PROBE``)."""
    pixels = load_png(png).astype(np.int16)

    def crop(rect: Rect) -> np.ndarray:
        x, y, w, h = rect
        return pixels[y : y + h, x : x + w]

    notdef = crop(reference)
    background = np.median(notdef.reshape(-1, 3), axis=0)
    found = []
    for ch, rect in cells.items():
        cell = crop(rect)
        ink = np.abs(cell - background).max(axis=2) > 96
        if not ink.any() or (cell.shape == notdef.shape and np.abs(cell - notdef).max() <= 8):
            found.append(ch)
    return found


def window_rect(widget: Any, window_height: int) -> Rect:
    """A widget's box in screenshot pixels (Kivy's origin is bottom-left, the PNG's top-left)."""
    x, y = widget.to_window(widget.x, widget.y)
    return int(round(x)), int(round(window_height - y - widget.height)), int(widget.width), int(widget.height)
