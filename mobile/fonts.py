"""Use a CJK-capable font when the system has one; otherwise stay on Kivy's Roboto.

Roboto has no Chinese glyphs (they render as boxes), so the Chinese half of bilingual
labels is only shown when a CJK font was found. Customer names and addresses from the
server are shown as they are either way.
"""

from __future__ import annotations

import glob
import os

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.logger import Logger

CJK_FONT_CANDIDATES = (
    "/system/fonts/NotoSansCJK-Regular.ttc",  # Android
    "/system/fonts/NotoSansSC-Regular.otf",
    "/system/fonts/DroidSansFallback.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
CJK_FONT_GLOBS = ("/usr/share/fonts/**/NotoSansCJK*-Regular.tt[cf]", "/usr/share/fonts/**/NotoSans*CJK*.otf")

_state = {"cjk": False, "done": False}


def find_cjk_font(
    candidates: tuple[str, ...] = CJK_FONT_CANDIDATES, patterns: tuple[str, ...] = CJK_FONT_GLOBS
) -> str | None:
    override = os.environ.get("FIXROUTE_CJK_FONT")
    if override and os.path.isfile(override):
        return override
    for path in candidates:
        if os.path.isfile(path):
            return path
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True))
        if matches:
            return matches[0]
    return None


def setup_fonts() -> bool:
    """Once per process: make a CJK font the default if there is one. Never raises."""
    if _state["done"]:
        return _state["cjk"]
    _state["done"] = True
    path = find_cjk_font()
    if path is None:
        Logger.info("Fixroute: no CJK font found, showing English labels only")
        return False
    try:
        bold = path.replace("-Regular", "-Bold")
        LabelBase.register(DEFAULT_FONT, fn_regular=path, fn_bold=bold if os.path.isfile(bold) else path)
    except Exception as exc:  # a broken font file must not stop the app
        Logger.warning("Fixroute: could not use CJK font %s: %s", path, exc)
        return False
    _state["cjk"] = True
    return True


def has_cjk() -> bool:
    return _state["cjk"]


def tr(english: str, chinese: str) -> str:
    """``tr('Today', '今天')`` -> ``'Today 今天'`` with a CJK font, else ``'Today'``."""
    return f"{english} {chinese}" if _state["cjk"] else english
