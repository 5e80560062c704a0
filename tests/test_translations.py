"""Every user-facing string has its Chinese translation, and the compiled catalogues are current."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CATALOGUES = sorted(REPO.glob("server/*/locale/zh_Hans/LC_MESSAGES/django.po"))
_QUOTED = re.compile(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?)?\s*"(.*)"$')


def _entries(text: str) -> list[dict[str, str]]:
    """The live entries of a .po file: {field: text}, with the flags under "#,"."""
    entries = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        field = ""
        for line in block.splitlines():
            if line.startswith("#~"):  # obsolete: no longer used by the code
                fields = {}
                break
            if line.startswith("#,"):
                fields["#,"] = line
                continue
            match = _QUOTED.match(line)
            if match:
                field = match.group(1) or field
                fields[field] = fields.get(field, "") + match.group(2)
        if fields.get("msgid"):
            entries.append(fields)
    return entries


def test_there_are_catalogues():
    assert {path.parts[-5] for path in CATALOGUES} >= {"console", "care", "crm", "workorders"}


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda path: path.parts[-5])
def test_every_string_is_translated_and_none_is_fuzzy(catalogue):
    entries = _entries(catalogue.read_text(encoding="utf-8"))
    untranslated = [e["msgid"] for e in entries if not any(v for k, v in e.items() if k.startswith("msgstr"))]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("#,", "")]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.parametrize("catalogue", CATALOGUES, ids=lambda path: path.parts[-5])
def test_the_compiled_catalogue_is_not_older_than_its_source(catalogue):
    compiled = catalogue.with_suffix(".mo")
    assert compiled.exists()
    # git does not keep file times: compare what the .mo holds with what the .po says.
    with compiled.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    for entry in _entries(catalogue.read_text(encoding="utf-8")):
        if "msgid_plural" in entry:
            continue
        assert translations.gettext(_unescape(entry["msgid"])) == _unescape(entry["msgstr"]), entry["msgid"]


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
