"""Long texts are cut for display; "More" shows the next step."""

from __future__ import annotations

from mobile.services.textclip import ELLIPSIS, FIRST_CHARS, FIRST_LINES, STEP_CHARS, clip


def test_short_text_is_shown_whole():
    assert clip("Boiler E119") == clip("Boiler E119", 3)
    assert clip("Boiler E119").text == "Boiler E119"
    assert not clip("Boiler E119").more
    assert clip("a\nb\nc").text == "a\nb\nc"


def test_a_huge_text_is_cut_and_grows_by_steps():
    text = "x" * 350_000
    first = clip(text)
    assert first.more
    assert len(first.text) == FIRST_CHARS + len(ELLIPSIS)
    second = clip(text, 1)
    assert len(second.text) == FIRST_CHARS + STEP_CHARS + len(ELLIPSIS)
    assert clip(text, 200).text == text  # all of it, after enough steps
    assert not clip(text, 200).more


def test_many_short_lines_are_cut_by_lines():
    text = "\n".join(f"line {i}" for i in range(100))
    first = clip(text)
    assert first.more
    assert first.text.count("\n") == FIRST_LINES - 1
    assert first.text.startswith("line 0\nline 1")
