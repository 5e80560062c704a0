"""Long texts cut for display, with "More" to show the next step.

A Kivy Label renders its whole text into one texture: a 350,000-character problem froze
the app for minutes. Screens show ``clip(text, shown)`` instead, which is never longer
than ``shown`` characters (and ``max_lines`` lines per step), and grow ``shown`` by a
step on each "More".
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_CHARS = 400
FIRST_LINES = 8
STEP_CHARS = 3000
STEP_LINES = 60
ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class Clipped:
    text: str  # what the Label gets
    more: bool  # there is more to show


def clip(text: str, steps: int = 0) -> Clipped:
    """``text`` cut after step ``steps`` (0: the first view; each "More" adds one)."""
    limit = FIRST_CHARS + steps * STEP_CHARS
    max_lines = FIRST_LINES + steps * STEP_LINES
    head = text[:limit]
    cut = len(text) > limit
    # Count lines only inside the head: never scan the whole (huge) text.
    newline = -1
    for _line in range(max_lines):
        newline = head.find("\n", newline + 1)
        if newline < 0:
            break
    if newline >= 0 and text[newline + 1 :].strip():  # more than max_lines lines
        head = head[:newline]
        cut = True
    if not cut:
        return Clipped(text, False)
    return Clipped(head.rstrip() + ELLIPSIS, True)
