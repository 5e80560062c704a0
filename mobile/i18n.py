"""The app's language: English or Simplified Chinese, following the phone.

``_("Today")`` returns the text in the current language. The catalogue of Chinese texts is
a plain Python dict (``mobile.locale_zh.ZH``), so nothing has to be compiled for Android.
kv files use the same function (``#:import _ mobile.i18n._``); the language is chosen
when the app starts, before any screen is built, so every label is created in it.

Pure Python: no Kivy import (``mobile.services`` uses it too). On Android the phone's
locale comes from ``mobile.platform_actions.android_language`` (pyjnius).
"""

from __future__ import annotations

import locale
import os
from datetime import date, datetime

from mobile.locale_zh import ZH

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)
LANGUAGE_ENV = "FIXROUTE_LANG"  # override for tests and demos: "en" or "zh-CN"

_state = {"language": ENGLISH}


def _(text: str) -> str:
    """``text`` (an English msgid) in the current language; English when untranslated."""
    if _state["language"] == CHINESE:
        return ZH.get(text, text)
    return text


def language() -> str:
    return _state["language"]


def set_language(value: str | None) -> str:
    """Switch to ``value`` (any spelling of en / zh); returns the language now in use."""
    _state["language"] = normalize(value) or ENGLISH
    return _state["language"]


def normalize(value: str | None) -> str | None:
    """``"zh_CN.UTF-8"``, ``"zh-Hans"``, ``"zh"`` -> ``"zh-CN"``; ``"en_GB"`` -> ``"en"``; else None."""
    if not value:
        return None
    tag = value.split(".")[0].split("@")[0].replace("_", "-").lower()
    if tag.startswith("zh"):
        return CHINESE
    if tag.startswith("en") or tag in ("c", "posix"):
        return ENGLISH
    return None


def system_language(platform: str = "") -> str:
    """The phone's (or desktop's) language, reduced to one we have; English otherwise."""
    override = normalize(os.environ.get(LANGUAGE_ENV))
    if override:
        return override
    if platform == "android":
        from mobile.platform_actions import android_language

        found = normalize(android_language())
        if found:
            return found
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        found = normalize((os.environ.get(var) or "").split(":")[0])
        if found:
            return found
    try:
        found = normalize(locale.getlocale()[0])
    except ValueError:
        found = None
    return found or ENGLISH


def accept_language() -> str:
    """The ``Accept-Language`` header the server localises its texts by."""
    return "zh-CN" if _state["language"] == CHINESE else "en"


# -- dates and times ---------------------------------------------------------------------

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_day(day: date) -> str:
    """``Mon 23 Nov`` / ``11月23日 周一``."""
    if _state["language"] == CHINESE:
        return f"{day.month}月{day.day}日 {_WEEKDAYS_ZH[day.weekday()]}"
    return f"{_WEEKDAYS_EN[day.weekday()]} {day.day} {_MONTHS_EN[day.month - 1]}"


def format_date(day: date) -> str:
    """``23 Nov 2026`` / ``2026年11月23日``."""
    if _state["language"] == CHINESE:
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def format_short_datetime(moment: datetime) -> str:
    """``23 Nov 08:30`` / ``11月23日 08:30`` (a moment already in local time)."""
    if _state["language"] == CHINESE:
        return f"{moment.month}月{moment.day}日 {moment:%H:%M}"
    return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment:%H:%M}"
