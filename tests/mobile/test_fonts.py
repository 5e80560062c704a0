"""The bundled font (mobile/fonts/, built by `make mobile-font`): present, registered as Kivy's
default, covering Chinese, Latin and digits, and drawn as real glyphs in a real window."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fontTools.ttLib import TTFont

from mobile import fonts
from tests.mobile.glyphs import (
    NOTDEF_PROBE,
    assert_font_covers,
    assert_real_glyphs,
    boxes,
    cells_drawn_as_notdef,
    missing_from_font,
    screenshot_has_content,
    window_rect,
)

FACES = (fonts.FONT_PATH, fonts.BOLD_FONT_PATH)
SAMPLE = "张师傅 WO-000123 09:30 预计10:20至10:40到达 ¥128.50"
PUNCTUATION = "，。、：；！？（）【】《》“”‘’…—·•€¥℃№①"
# Names and places outside GB2312, inside GBK: why the subset keeps GBK's 20,902 hanzi.
GBK_ONLY = "王堃 李喆 赵珺 陈玥 刘赟 亓官 鄌郚镇"
HANZI = "张师傅预计至到达"


def _roboto() -> str:
    from kivy import kivy_data_dir

    return os.path.join(kivy_data_dir, "fonts", "Roboto-Regular.ttf")


@pytest.mark.parametrize("path", FACES, ids=["regular", "bold"])
def test_bundled_face_is_built_renamed_and_fits_an_apk(path):
    assert os.path.isfile(path), f"{path} missing: run `make mobile-font`"
    names = TTFont(path, lazy=True)["name"]
    assert names.getDebugName(1) == "Fixroute Sans"  # no reserved name ("Source") nor "Noto"
    assert "Open Font License" in (names.getDebugName(13) or "")
    assert "Adobe" in (names.getDebugName(0) or "")
    assert os.path.getsize(path) < 6_000_000


@pytest.mark.parametrize("path", FACES, ids=["regular", "bold"])
def test_bundled_face_covers_chinese_latin_digits_and_gbk_names(path):
    assert_font_covers(SAMPLE + PUNCTUATION + GBK_ONLY, path)
    assert_font_covers("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ÉéüÜāáǎà", path)
    assert missing_from_font(NOTDEF_PROBE, path) == [NOTDEF_PROBE]  # the probe really is missing


def test_coverage_check_names_the_missing_characters():
    with pytest.raises(AssertionError, match=r"U\+F0000"):
        assert_font_covers("WO-1 " + NOTDEF_PROBE, fonts.FONT_PATH)
    assert missing_from_font(SAMPLE, _roboto()) == sorted(set(HANZI))


def test_a_missing_font_names_the_command_that_builds_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "FONT_PATH", str(tmp_path / "FixrouteSans-Regular.otf"))
    with pytest.raises(fonts.FontMissing, match="make mobile-font"):
        fonts.setup_fonts()


def test_setup_fonts_makes_the_bundled_font_kivys_default():
    from kivy.core.text import Label as CoreLabel

    assert fonts.setup_fonts() == fonts.FONT_PATH == fonts.font_path()
    for bold, expected in ((False, fonts.FONT_PATH), (True, fonts.BOLD_FONT_PATH)):
        label = CoreLabel(text="张", bold=bold)  # no font_name: what every widget uses
        label.resolve_font_name()
        assert label.options["font_name_r"] == expected


def test_every_character_renders_as_a_glyph(kivy_window):
    fonts.setup_fonts()
    assert_real_glyphs(SAMPLE + PUNCTUATION + GBK_ONLY)


def test_the_glyph_check_sees_kivys_roboto_draw_boxes(kivy_window):
    """Planted fault: Roboto has no hanzi, so the check must name exactly them."""
    with pytest.raises(AssertionError, match="drawn as boxes"):
        assert_real_glyphs(SAMPLE, font_name=_roboto(), faces=(False,))
    assert boxes(SAMPLE, font_name=_roboto()) == sorted(set(HANZI))


def _draw_glyph_sheet(ui: Any, artifact: Any, name: str, font_name: str) -> tuple[str, list[str]]:
    """A window with the sample as text and as one cell per character, plus a reference cell
    showing a code point no font has; returns the screenshot and the cells drawn as boxes."""
    from kivy.graphics import Color, Rectangle
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label

    dark = (0.1, 0.1, 0.12, 1)
    sheet = BoxLayout(orientation="vertical", padding=8, spacing=8)
    with sheet.canvas.before:
        Color(1, 1, 1, 1)
        Rectangle(pos=(0, 0), size=ui.window.size)
    for bold in (False, True):
        sheet.add_widget(
            Label(text=SAMPLE, font_name=font_name, bold=bold, color=dark, font_size=15, size_hint_y=None, height=40)
        )
    characters = sorted({ch for ch in SAMPLE + GBK_ONLY if not ch.isspace()})
    grid = GridLayout(cols=8, size_hint=(None, None), col_default_width=44, row_default_height=44)
    grid.bind(minimum_size=grid.setter("size"))
    cells = {}
    for ch in [NOTDEF_PROBE, *characters]:
        cell = Label(text=ch, font_name=font_name, color=dark, font_size=26, size_hint=(None, None), size=(44, 44))
        grid.add_widget(cell)
        cells[ch] = cell
    sheet.add_widget(grid)
    sheet.add_widget(Label(size_hint_y=1))
    ui.window.add_widget(sheet)
    try:
        ui.frames(3)
        path = artifact(name)
        height = int(ui.window.height)
        rects = {ch: window_rect(cell, height) for ch, cell in cells.items() if ch != NOTDEF_PROBE}
        drawn_as_boxes = cells_drawn_as_notdef(path, rects, window_rect(cells[NOTDEF_PROBE], height))
    finally:
        ui.window.remove_widget(sheet)
    return path, drawn_as_boxes


@pytest.mark.ui
def test_screenshot_shows_chinese_latin_and_digits_as_glyphs(ui, artifact):
    """test-artifacts/screenshots/mobile-fonts-glyphs.png: every character cell is ink that
    differs from the missing-glyph box."""
    fonts.setup_fonts()
    from kivy.core.text import DEFAULT_FONT

    path, drawn_as_boxes = _draw_glyph_sheet(ui, artifact, "fonts-glyphs", DEFAULT_FONT)
    assert screenshot_has_content(path), path
    assert drawn_as_boxes == [], f"drawn as boxes in {path}: {drawn_as_boxes}"


@pytest.mark.ui
def test_screenshot_check_fails_with_kivys_roboto(ui, artifact):
    """Planted fault: the same sheet in Roboto shows the hanzi as boxes, and the check says so."""
    path, drawn_as_boxes = _draw_glyph_sheet(ui, artifact, "fonts-glyphs-roboto", _roboto())
    assert screenshot_has_content(path)
    assert set(HANZI) <= set(drawn_as_boxes)
    assert not set("WO0123456789:.¥-") & set(drawn_as_boxes)
