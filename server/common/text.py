"""Text from outside (webhooks, API payloads) made safe to store and show.

PostgreSQL refuses NUL in ``text`` and in ``jsonb`` strings, and a lone UTF-16 surrogate (JSON
allows ``"\\ud800"``) cannot be encoded to UTF-8 at all: either turns a save into a 500. Control
characters other than newline and tab only garble what staff read. ``text_clean`` removes them,
and cuts over-long text with a visible marker, for callers that cannot send their input again
(a phone system's webhook); an API whose client can fix its payload may refuse instead
(``text_is_clean``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# The longest problem description a work order takes, from the staff API and from a call alike.
PROBLEM_MAX_LENGTH = 4000

TRUNCATED_MARKER = "… (truncated)"

# C0 controls except \t and \n (a \r of "\r\n" goes, the \n stays), DEL, and the C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile("([\ud800-\udbff])([\udc00-\udfff])")


def _pair_join(match: re.Match[str]) -> str:
    high, low = (ord(half) for half in match.groups())
    return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def text_clean(value: str, *, max_length: int | None, marker: str = TRUNCATED_MARKER) -> str:
    """``value`` without control characters (``\\n`` and ``\\t`` stay) or unpaired surrogates,
    cut to ``max_length`` characters (``None``: no limit) ending in ``marker`` when it was longer.

    A surrogate pair spelled as two halves becomes the character it encodes. The cut keeps the
    start of the text, which is what a reader needs most; the marker says something is missing.
    """
    text = _CONTROL.sub("", value)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("", _SURROGATE_PAIR.sub(_pair_join, text))
    if max_length is not None and len(text) > max_length:
        if max_length <= len(marker):
            return text[:max_length]
        return text[: max_length - len(marker)].rstrip() + marker
    return text


def text_is_clean(value: str) -> bool:
    """True when ``text_clean`` would leave ``value`` as it is (length aside)."""
    return not _CONTROL.search(value) and not _SURROGATE.search(value)


# Bounds for JSON kept as a record (a webhook's raw payload): enough to read what was sent,
# never enough to fill a row.
JSON_MAX_STRING = 1000
JSON_MAX_ITEMS = 200
JSON_MAX_DEPTH = 20
JSON_MAX_CHARS = 64_000


def json_clean(
    value: Any,
    *,
    max_string: int = JSON_MAX_STRING,
    max_items: int = JSON_MAX_ITEMS,
    max_depth: int = JSON_MAX_DEPTH,
    max_chars: int = JSON_MAX_CHARS,
) -> Any:
    """A copy of a decoded JSON ``value`` that any database stores: every string and key cleaned
    by ``text_clean`` (strings cut at ``max_string``), each object or array cut to ``max_items``
    entries, nesting deeper than ``max_depth`` and everything past about ``max_chars`` characters
    of text in all replaced by ``TRUNCATED_MARKER``, non-finite numbers by ``None`` and anything
    that is not JSON by its text.
    """
    budget = [max_chars]

    def spend(amount: int) -> bool:
        budget[0] -= amount
        return budget[0] >= 0

    def clean(item: Any, depth: int) -> Any:
        if isinstance(item, str):
            text = text_clean(item, max_length=max_string)
            return text if spend(len(text)) else TRUNCATED_MARKER
        spend(1)  # every value counts, so many small ones are bounded too
        if item is None or isinstance(item, bool | int):
            return item
        if isinstance(item, float):
            return item if math.isfinite(item) else None
        if depth >= max_depth:
            return TRUNCATED_MARKER
        if isinstance(item, Mapping):
            out: dict[str, Any] = {}
            for index, (key, inner) in enumerate(item.items()):
                name = text_clean(str(key), max_length=max_string)
                if index >= max_items or not spend(len(name)):
                    out[TRUNCATED_MARKER] = True
                    break
                out[name] = clean(inner, depth + 1)
            return out
        if isinstance(item, list | tuple):
            items: list[Any] = []
            for index, inner in enumerate(item):
                if index >= max_items or budget[0] <= 0:
                    items.append(TRUNCATED_MARKER)
                    break
                items.append(clean(inner, depth + 1))
            return items
        return clean(str(item), depth)

    return clean(value, 0)
