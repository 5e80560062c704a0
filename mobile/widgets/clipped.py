"""``ClippedText``: a long text shown cut, with a "More" button that shows the next step.

The Label only ever gets ``textclip.clip(full_text, steps)``, so a 350,000-character
problem costs the same to open as a short one.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from mobile.services.textclip import clip


class ClippedText(BoxLayout):
    full_text = StringProperty("")  # everything (may be huge; never given to a Label)
    shown = StringProperty("")  # what the Label shows
    steps = NumericProperty(0)  # "More" presses so far
    has_more = BooleanProperty(False)
    empty_text = StringProperty("-")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._update()

    def on_full_text(self, *_args: Any) -> None:
        self.steps = 0
        self._update()

    def on_steps(self, *_args: Any) -> None:
        self._update()

    def more(self) -> None:
        if self.has_more:
            self.steps += 1

    def _update(self) -> None:
        clipped = clip(self.full_text, int(self.steps))
        self.shown = clipped.text or self.empty_text
        self.has_more = clipped.more
