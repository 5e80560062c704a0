"""Every user-facing text of the app goes through ``_()`` and has a Chinese translation."""

from __future__ import annotations

import ast
import pathlib
import re
from datetime import UTC, date, datetime

import pytest

from mobile import i18n
from mobile.locale_zh import ZH

MOBILE = pathlib.Path(__file__).resolve().parents[2] / "mobile"
KV_CALL = re.compile(r"""\b_\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\)""")


def msgids() -> dict[str, str]:
    """msgid -> where it was found, from ``_("...")`` in every .py and .kv of mobile/."""
    found: dict[str, str] = {}
    for path in sorted(MOBILE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
                assert node.args, f"{path}:{node.lineno}: _() without a text"
                assert isinstance(node.args[0], ast.Constant), f"{path}:{node.lineno}: _() of a non-literal"
                found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    for path in sorted(MOBILE.rglob("*.kv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in KV_CALL.finditer(line):
                found.setdefault(match.group(1) or match.group(2), f"{path.name}:{number}")
    return found


def test_the_scan_finds_texts_in_python_and_kv():
    found = msgids()
    assert "Log in" in found  # login.kv
    assert "Choose why the job could not be completed." in found  # finish.py
    assert len(found) > 80


def test_every_text_has_a_chinese_translation():
    missing = {msgid: where for msgid, where in msgids().items() if not ZH.get(msgid)}
    assert not missing, "untranslated: " + "; ".join(f"{w}: {m!r}" for m, w in missing.items())


def test_no_stale_translations():
    assert set(ZH) - set(msgids()) == set()


def test_placeholders_survive_translation():
    for msgid, text in ZH.items():
        assert sorted(re.findall(r"\{\w*\}", msgid)) == sorted(re.findall(r"\{\w*\}", text)), msgid


def test_kv_files_have_no_bare_english_labels():
    """A ``text: '...'`` in kv with letters must be a _() call (brand name and symbols aside)."""
    allowed = {"Fixroute", "X", "OK"}
    for path in MOBILE.rglob("*.kv"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.match(r"\s*(text|hint_text|title):\s*'([^']*)'\s*$", line)
            if match and re.search(r"[A-Za-z]", match.group(2)):
                assert match.group(2) in allowed, f"{path.name}:{number}: {line.strip()}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh_CN.UTF-8", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh_TW", "zh-CN"),
        ("en_GB.UTF-8", "en"),
        ("C", "en"),
        ("fr_FR", None),
        ("", None),
    ],
)
def test_normalize(value, expected):
    assert i18n.normalize(value) == expected


def test_system_language_from_override_then_environment(monkeypatch):
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE", i18n.LANGUAGE_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.system_language() == "zh-CN"
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert i18n.system_language() == "en"
    monkeypatch.setenv(i18n.LANGUAGE_ENV, "zh-CN")
    assert i18n.system_language() == "zh-CN"


def test_switching_language_changes_texts_and_formats():
    try:
        i18n.set_language("zh-CN")
        assert i18n._("Log in") == ZH["Log in"]
        assert i18n.accept_language() == "zh-CN"
        assert i18n.format_day(date(2026, 11, 23)) == "11月23日 周一"
        assert i18n.format_short_datetime(datetime(2026, 11, 23, 8, 5, tzinfo=UTC)) == "11月23日 08:05"
        i18n.set_language("en")
        assert i18n._("Log in") == "Log in"
        assert i18n.format_day(date(2026, 11, 23)) == "Mon 23 Nov"
        assert i18n.format_date(date(2019, 4, 2)) == "2 Apr 2019"
    finally:
        i18n.set_language("en")
